"""Letterbox geometry and input validation (shared by every backend)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perception.detection.preprocess import STRIDE, letterbox, preprocess, stride_aligned_hw, validate_image


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(8, 1500),
    width=st.integers(8, 1500),
    input_hw=st.sampled_from([(640, 640), (320, 320), (384, 640)]),
    corners=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4),
)
def test_boxes_survive_letterbox_round_trip(height, width, input_hw, corners):
    image = np.zeros((height, width, 3), np.uint8)
    padded, transform = letterbox(image, input_hw)
    assert padded.shape == (*input_hw, 3)
    x1, x2 = sorted(corners[:2])
    y1, y2 = sorted(corners[2:])
    box = np.array([[x1 * width, y1 * height, x2 * width, y2 * height]], np.float32)
    assert np.allclose(transform.to_source(transform.to_input(box)), box, atol=0.01)


def test_letterbox_centres_image_in_grey_padding():
    image = np.full((100, 200, 3), 255, np.uint8)
    padded, transform = letterbox(image, (640, 640))
    assert transform.scale == pytest.approx(3.2)
    assert (transform.pad_x, transform.pad_y) == (0.0, 160.0)
    assert (padded[:160] == 114).all() and (padded[-160:] == 114).all()
    assert (padded[160:480] == 255).all()


def test_rescaled_boxes_are_clipped_to_the_source_image():
    _, transform = letterbox(np.zeros((100, 200, 3), np.uint8), (640, 640))
    outside = np.array([[-50.0, 100.0, 700.0, 600.0]], np.float32)
    assert transform.to_source(outside).tolist() == [[0.0, 0.0, 200.0, 100.0]]


def test_stride_aligned_shape_matches_ultralytics_rect_letterbox():
    assert stride_aligned_hw((540, 960), 640) == (384, 640)
    assert stride_aligned_hw((720, 1280), 320) == (192, 320)
    assert all(side % STRIDE == 0 for side in stride_aligned_hw((1000, 37), 640))


def test_without_upscale_a_smaller_frame_keeps_its_size_and_a_larger_one_shrinks():
    assert stride_aligned_hw((540, 960), 1376) == (800, 1376)  # enlarged by default
    assert stride_aligned_hw((540, 960), 1376, upscale=False) == (544, 960)  # its own size, padded to the stride
    assert stride_aligned_hw((800, 1360), 1376, upscale=False) == (800, 1376)
    assert stride_aligned_hw((1080, 1920), 1376, upscale=False) == stride_aligned_hw((1080, 1920), 1376)
    tensor, transform = preprocess(np.zeros((540, 960, 3), np.uint8), None, 1376, upscale=False)
    assert tensor.shape == (1, 3, 544, 960) and transform.scale == 1.0


def test_preprocess_gives_rgb_float_tensor():
    image = np.zeros((64, 64, 3), np.uint8)
    image[..., 2] = 255  # red in BGR
    tensor, _ = preprocess(image, (64, 64), 64)
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert tensor[0, 0].min() == 1.0 and tensor[0, 2].max() == 0.0


@pytest.mark.parametrize(
    "image, error, message",
    [
        (np.zeros((0, 10, 3), np.uint8), ValueError, "empty"),
        (np.zeros((10, 10, 3), np.float32), TypeError, "uint8"),
        (np.zeros((10, 10), np.uint8), ValueError, "shape"),
        (np.zeros((10, 10, 4), np.uint8), ValueError, "shape"),
        ([[0, 0, 0]], TypeError, "numpy array"),
    ],
)
def test_bad_images_are_rejected_clearly(image, error, message):
    with pytest.raises(error, match=message):
        validate_image(image)
