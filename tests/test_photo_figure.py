"""The photos x CAM methods figure of ``moana localize-photos --figure``."""

import numpy as np
import pytest

from moana.viz.figures import plot_photo_cams


def test_grid_has_one_row_per_photo_and_the_label_as_title():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    maps = {"cam": rng.random((2, 32, 32)), "gradcam": rng.random((2, 32, 32))}
    fig = plot_photo_cams(images, maps, [[(1, 2, 20, 30)], [(0, 0, 8, 8)]], titles=["a", "b"],
                          label="real photographs, 2 images")
    assert len(fig.axes) == 2 * 3 and fig._suptitle.get_text() == "real photographs, 2 images"
    assert [ax.get_title() for ax in fig.axes[1:3]] == ["cam", "gradcam"]
    with pytest.raises(ValueError, match="cam: 1 maps for 2 images"):
        plot_photo_cams(images, {"cam": maps["cam"][:1]}, [[], []])


def test_saved_figure_of_the_photo_set(tmp_path):
    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")
    from moana.experiments.photos import IMAGE_SIZE, save_photo_figure

    maps = {"cam": np.linspace(0, 1, 8 * IMAGE_SIZE * IMAGE_SIZE).reshape(8, IMAGE_SIZE, IMAGE_SIZE)}
    path = save_photo_figure(maps, "efficientnet_lite0", tmp_path / "photos.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob("*.tmp*"))
