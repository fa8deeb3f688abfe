"""Property tests of the readers of user files: any generated input either loads or raises a
ValueError (the kit's input-error type: ``TextFileError``/``MetadataError`` for text files)
whose message names the file, never another exception.

Readers: wsolevaluation metadata (``load_wsol_metadata``), VOC id lists (``read_id_list``) and
image-level labels (``load_cls_labels``), the train and WSSS config loaders and the score-map
reader (``read_scoremap``). Examples per run: :data:`EXAMPLES` per test (fixed seed, see
``derandomize``), 8 tests: 480 examples.
"""

from __future__ import annotations

import dataclasses
import io
import typing
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from moana.data.metadata import load_wsol_metadata
from moana.data.voc import load_cls_labels, read_id_list
from moana.scoremaps import read_scoremap
from moana.train.config import TrainConfig, load_config
from moana.wsss.config import WSSSConfig, load_wsss_config

EXAMPLES = 60
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("property")


def _fresh(scratch: Path) -> Path:
    folder = scratch / uuid.uuid4().hex
    folder.mkdir()
    return folder


def _loads_or_names(read, path: Path) -> None:
    try:
        read(path)
        event("loaded")
    except ValueError as err:
        event("refused")
        assert str(path) in str(err) or path.name in str(err), f"file not named: {err}"


# --------------------------------------------------------------------------- text pieces
TOKENS = st.sampled_from(["a.jpg", "b/c.png", "x.y.jpg", "0", "1", "-1", "2", "3.5", "nan",
                          "inf", "1e3", "", " ", "é", "10", "40", "255", "ab,cd", "\t"])
FIELDS = st.lists(TOKENS, min_size=0, max_size=6).map(",".join)
LINES = st.lists(FIELDS, min_size=0, max_size=6)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


def _text(lines: list[str], end: str, bom: bool, junk: bytes) -> bytes:
    data = end.join(lines).encode("utf-8") + junk
    return (b"\xef\xbb\xbf" if bom else b"") + data


JUNK = st.sampled_from([b"", b"", b"", b"\xff\xfe", b"\x00", b"\xe9t\xe9"])


@st.composite
def wsol_split(draw):
    """The four files of a split: mostly well-formed rows of a few ids, with perturbations."""
    ids = draw(st.lists(st.sampled_from(["a.jpg", "b/c.png", "x.y.jpg", "d.jpg"]),
                        min_size=0, max_size=4))
    rows = {
        "image_ids.txt": list(ids),
        "class_labels.txt": [f"{i},{draw(st.sampled_from(['0', '1', '0', '1', '-1', 'x', '2.0']))}"
                             for i in ids],
        "image_sizes.txt": [f"{i},{draw(st.sampled_from(['40,30', '40,30', '40,30', '0,5', '1,1', 'a,b', '40']))}"
                            for i in ids],
        "localization.txt": [f"{i},{draw(st.sampled_from(['1,1,20,20', '1,1,20,20', '1,1,20,20', '5,5,1,1', '0,0,41,10', 'nan,0,1,1', '1,2,3', 'm/a.png,', 'm/a.png,i/a.png', 'm/a.png']))}"
                             for i in ids],
    }
    files = {}
    for name, lines in rows.items():
        if draw(st.integers(0, 5)) == 0:
            lines = draw(LINES)  # replace by arbitrary rows
        junk = draw(JUNK) if draw(st.integers(0, 3)) == 0 else b""
        files[name] = _text(lines, draw(ENDINGS), draw(st.booleans()), junk)
    return files


@SETTINGS
@given(files=wsol_split())
def test_wsol_metadata_loads_or_names_the_file(scratch, files):
    folder = _fresh(scratch)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    try:
        load_wsol_metadata(folder)
        event("loaded")
    except ValueError as err:
        event("refused")
        assert str(folder) in str(err), f"folder not named: {err}"


@SETTINGS
@given(lines=st.lists(st.one_of(FIELDS, st.text(max_size=12)), max_size=8), end=ENDINGS,
       bom=st.booleans(), junk=JUNK)
def test_voc_id_list_loads_or_names_the_file(scratch, lines, end, bom, junk):
    path = _fresh(scratch) / "train.txt"
    path.write_bytes(_text(lines, end, bom, junk))
    _loads_or_names(read_id_list, path)


# --------------------------------------------------------------------------- labels
LABEL_VALUES = st.one_of(
    st.lists(st.sampled_from([0, 1]), min_size=20, max_size=20),
    st.lists(st.sampled_from([0.0, 1.0]), min_size=20, max_size=20).map(np.array),
    st.lists(st.sampled_from([0, 1, 0.5, -1, 2]), min_size=0, max_size=22),
    st.sampled_from([None, "dog", 3, 1.5, [[0, 1]], {"a": 1}]),
)


@SETTINGS
@given(content=st.one_of(
    st.dictionaries(st.one_of(st.integers(-5, 2 ** 40), st.text(max_size=6)), LABEL_VALUES,
                    max_size=4),
    st.sampled_from([[1, 2], "labels", 3, None]),
    st.binary(max_size=40)))
def test_cls_labels_load_or_name_the_file(scratch, content):
    path = _fresh(scratch) / "cls_labels.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        array = np.empty((), dtype=object)
        array[()] = content
        np.save(path, array, allow_pickle=True)
    _loads_or_names(load_cls_labels, path)


# --------------------------------------------------------------------------- configs
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 10 ** 6),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["1e-2", "ten", "", "on", "[1, 2]", "cam", "0x10", "1_000"]),
                    st.lists(st.integers(-2, 300), max_size=3))


def _schema_keys(cls, prefix=()) -> list[tuple[tuple[str, ...], bool]]:
    """Every key path of a config dataclass (True for a nested section)."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        nested = dataclasses.is_dataclass(hint)
        keys.append(((*prefix, f.name), nested))
        if nested:
            keys.extend(_schema_keys(hint, (*prefix, f.name)))
    return keys


def _config_text(draw, cls) -> bytes:
    keys = [k for k, nested in _schema_keys(cls) if not nested and k[0] != "base"]
    chosen = draw(st.lists(st.sampled_from(keys), max_size=5, unique=True))
    data: dict = {}
    for path in chosen:
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[path[-1]] = draw(SCALARS)
    if draw(st.integers(0, 9)) == 0:
        data[draw(st.sampled_from(["epochs", "cam", "bogus"]))] = draw(SCALARS)  # misplaced
    text = yaml.safe_dump(data, allow_unicode=True).encode("utf-8")
    mode = draw(st.integers(0, 9))
    if mode == 0:
        return draw(st.binary(max_size=30))
    if mode == 1:
        return text + draw(st.sampled_from([b"\xff", b": :\n", b"- a\n", b"\t x: 1\n"]))
    return text


@st.composite
def train_config_text(draw):
    return _config_text(draw, TrainConfig)


@st.composite
def wsss_config_text(draw):
    return _config_text(draw, WSSSConfig)


@SETTINGS
@given(text=train_config_text())
def test_train_config_loads_or_names_the_file(scratch, text):
    path = _fresh(scratch) / "run.yaml"
    path.write_bytes(text)
    _loads_or_names(load_config, path)


@SETTINGS
@given(text=wsss_config_text())
def test_wsss_config_loads_or_names_the_file(scratch, text):
    path = _fresh(scratch) / "wsss.yaml"
    path.write_bytes(text)
    _loads_or_names(load_wsss_config, path)


@st.composite
def override(draw, cls):
    keys = [".".join(k) for k, nested in _schema_keys(cls) if not nested]
    key = draw(st.one_of(st.sampled_from(keys), st.sampled_from(["bogus", "cam.bogus", "a..b", ""])))
    value = draw(st.one_of(SCALARS.map(lambda v: yaml.safe_dump(v).strip().removesuffix("..."
                                                                                       ).strip()),
                           st.text(max_size=8)))
    return f"{key}={value}" if draw(st.integers(0, 9)) else key


def _loads_or_names_override(load, name, text):
    try:
        load(name, [text])
        event("loaded")
    except ValueError as err:
        event("refused")
        assert text in str(err) or text.split("=")[0] in str(err), f"override not named: {err}"


@SETTINGS
@given(text=override(TrainConfig))
def test_train_override_loads_or_names_itself(text):
    _loads_or_names_override(load_config, "smoke_cam", text)


@SETTINGS
@given(text=override(WSSSConfig))
def test_wsss_override_loads_or_names_itself(text):
    _loads_or_names_override(load_wsss_config, "smoke", text)


# --------------------------------------------------------------------------- score maps
DTYPES = st.sampled_from(["float32", "float64", "float16", "uint8", "int64", "bool",
                          "complex64", "U3", "object"])


@SETTINGS
@given(kind=st.sampled_from(["npy", "png", "bytes"]), dtype=DTYPES,
       shape=st.lists(st.integers(0, 4), min_size=0, max_size=3),
       data=st.binary(max_size=40))
def test_score_map_reader_loads_or_names_the_file(scratch, kind, dtype, shape, data):
    folder = _fresh(scratch)
    if kind == "npy":
        path = folder / "m.npy"
        array = np.zeros(shape, dtype=dtype)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=True)
        path.write_bytes(buffer.getvalue())
    elif kind == "png":
        import cv2

        path = folder / "m.png"
        channels = (shape[2] if len(shape) > 2 else 1) or 1
        image = np.zeros((max(shape[0], 1) if shape else 1,
                          max(shape[1], 1) if len(shape) > 1 else 1, channels),
                         dtype="uint16" if dtype == "int64" else "uint8")
        ok, encoded = cv2.imencode(".png", image if channels in (1, 3, 4) else image[..., :1])
        path.write_bytes(encoded.tobytes() if ok else data)
    else:
        path = folder / draw_name(data)
        path.write_bytes(data)
    _loads_or_names(read_scoremap, path)


def draw_name(data: bytes) -> str:
    return "m.png" if len(data) % 2 else "m.npy"
