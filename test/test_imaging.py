"""Image decoding: every supported encoding, padded rows, and clear errors for bad data (incl. fuzzing)."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perception.imaging import RAW_ENCODINGS, ImageDecodeError, decode_compressed, decode_raw

RNG = np.random.default_rng(0)
BGR = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding, pixels", [
    ("bgr8", BGR), ("rgb8", BGR[..., ::-1]), ("bgra8", np.dstack([BGR, np.full((6, 8), 255, np.uint8)])),
    ("rgba8", np.dstack([BGR[..., ::-1], np.zeros((6, 8), np.uint8)])),
])
def test_colour_encodings_decode_to_the_same_bgr(encoding, pixels):
    data = np.ascontiguousarray(pixels).tobytes()
    assert np.array_equal(decode_raw(data, 8, 6, encoding, 8 * pixels.shape[2]), BGR)


def test_row_padding_is_skipped_and_mono16_uses_the_high_byte():
    padded = np.zeros((6, 30), np.uint8)
    padded[:, :24] = BGR.reshape(6, 24)
    assert np.array_equal(decode_raw(padded.tobytes(), 8, 6, "bgr8", 30), BGR)
    gray = BGR[..., 0]
    big_endian = (gray.astype(np.uint16) << 8).astype(">u2").tobytes()
    assert np.array_equal(decode_raw(big_endian, 8, 6, "mono16", 16, is_bigendian=True)[..., 1], gray)


def test_jpeg_and_png_decode():
    for extension in (".jpg", ".png"):
        ok, data = cv2.imencode(extension, BGR)
        assert decode_compressed(data.tobytes()).shape == (6, 8, 3)


@pytest.mark.parametrize("args, message", [
    ((BGR.tobytes(), 8, 6, "32FC1", 32), "unsupported encoding"),
    ((b"", 0, 0, "bgr8", 0), "empty image"),
    ((BGR.tobytes(), 8, 6, "bgr8", 10), "step 10 is smaller"),
    ((BGR.tobytes()[:100], 8, 6, "bgr8", 24), "needs 144"),
])
def test_bad_raw_images_are_rejected_with_a_reason(args, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_raw(*args)


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"\xff\xd8\xff\xe0garbage", "JPEG"),
                                           (b"hello", "not JPEG or PNG")])
def test_bad_compressed_images_are_rejected_with_a_reason(data, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_compressed(data)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=4096), width=st.integers(-2, 64), height=st.integers(-2, 64),
       encoding=st.sampled_from(sorted(RAW_ENCODINGS) + ["16UC3", ""]), step=st.integers(-1, 300))
def test_fuzz_raw_decoding_returns_bgr_or_raises_decode_error(data, width, height, encoding, step):
    try:
        image = decode_raw(data, width, height, encoding, step)
    except ImageDecodeError:
        return
    assert image.shape == (height, width, 3) and image.dtype == np.uint8


@settings(max_examples=200, deadline=None)
@given(prefix_length=st.integers(0, 2000), noise=st.binary(max_size=64))
def test_fuzz_truncated_or_corrupted_jpeg(prefix_length, noise):
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(BGR, (64, 48)))
    data = jpeg.tobytes()[:prefix_length] + noise
    try:
        image = decode_compressed(data)
    except ImageDecodeError:
        return
    assert image.ndim == 3 and image.shape[2] == 3
