"""Image decoding: every supported encoding, padded rows, and clear errors for bad data (incl. fuzzing)."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perception.imaging import ENCODABLE, RAW_ENCODINGS, ImageDecodeError, decode_compressed, decode_raw, encode_raw

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


@pytest.fixture(scope="module")
def real_frame(shared_data):
    return cv2.imread(str(shared_data / "images" / "kitti" / "000008.png"))


def bayer_mosaic(image: np.ndarray, pattern: str) -> np.ndarray:
    """What a sensor with this colour filter (e.g. "rggb": R G on even rows, G B on odd ones) records."""
    mosaic = np.empty(image.shape[:2], np.uint8)
    for index, colour in enumerate(pattern):
        row, column = divmod(index, 2)
        mosaic[row::2, column::2] = image[row::2, column::2, "bgr".index(colour)]
    return mosaic


@pytest.mark.parametrize("encoding, to_raw", [
    ("bgr8", None), ("rgb8", cv2.COLOR_BGR2RGB), ("bgra8", cv2.COLOR_BGR2BGRA), ("rgba8", cv2.COLOR_BGR2RGBA),
])
def test_colour_encodings_of_a_real_frame_decode_to_it(real_frame, encoding, to_raw):
    raw = real_frame if to_raw is None else cv2.cvtColor(real_frame, to_raw)  # OpenCV's own conversion
    height, width = real_frame.shape[:2]
    assert np.array_equal(decode_raw(raw.tobytes(), width, height, encoding, raw.strides[0]), real_frame)


def test_mono_encodings_of_a_real_frame_decode_to_its_grey_image(real_frame):
    gray = cv2.cvtColor(real_frame, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    expected = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    assert np.array_equal(decode_raw(gray.tobytes(), width, height, "mono8", width), expected)
    gray16 = gray.astype("<u2") * 257  # the full 16-bit range, as a 16-bit camera gives it
    assert np.array_equal(decode_raw(gray16.tobytes(), width, height, "mono16", 2 * width), expected)


@pytest.mark.parametrize("pattern, opencv_code", [
    ("rggb", cv2.COLOR_BayerRGGB2BGR), ("bggr", cv2.COLOR_BayerBGGR2BGR),
    ("gbrg", cv2.COLOR_BayerGBRG2BGR), ("grbg", cv2.COLOR_BayerGRBG2BGR),
])
def test_bayer_encodings_of_a_real_frame_demosaic_to_it(real_frame, pattern, opencv_code):
    """A real frame seen through each colour filter: the decoded picture is OpenCV's demosaicing of that pattern and
    close to the frame; decoding the mosaic as any other pattern is far off (swapped or misplaced colours)."""
    mosaic = bayer_mosaic(real_frame, pattern)
    height, width = mosaic.shape
    decoded = decode_raw(mosaic.tobytes(), width, height, f"bayer_{pattern}8", width)
    assert np.array_equal(decoded, cv2.cvtColor(mosaic, opencv_code))
    error = np.abs(decoded.astype(int) - real_frame).mean()
    wrong = [np.abs(decode_raw(mosaic.tobytes(), width, height, f"bayer_{other}8", width).astype(int)
                    - real_frame).mean() for other in ("rggb", "bggr", "gbrg", "grbg") if other != pattern]
    assert error < 8 and min(wrong) > 2 * error, (error, wrong)


@pytest.mark.parametrize("encoding", ENCODABLE)
def test_encode_raw_is_what_decode_raw_reads(real_frame, encoding):
    """video-to-bag's raw frames: each encoding decodes back to the frame (grey for mono, demosaiced for Bayer)."""
    data, step = encode_raw(real_frame, encoding)
    height, width = real_frame.shape[:2]
    decoded = decode_raw(data, width, height, encoding, step)
    if encoding.startswith("bayer"):
        assert np.array_equal(decoded, decode_raw(bayer_mosaic(real_frame, encoding[6:10]).tobytes(), width, height,
                                                  encoding, width))
    elif encoding.startswith("mono"):
        assert np.array_equal(decoded[..., 0], cv2.cvtColor(real_frame, cv2.COLOR_BGR2GRAY))
    else:
        assert np.array_equal(decoded, real_frame)


def test_an_unknown_encoding_is_rejected_with_its_name():
    with pytest.raises(ImageDecodeError, match="unsupported encoding '32FC1'"):
        decode_raw(b"\0" * 64, 4, 4, "32FC1", 16)
    with pytest.raises(ImageDecodeError, match="cannot encode to 'yuv999'"):
        encode_raw(BGR, "yuv999")
