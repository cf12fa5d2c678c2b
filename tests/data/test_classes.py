import pytest

from dronefast.data.classes import (
    STANDARD_CLASSES,
    ClassTable,
    find_class_table,
    read_class_csv,
    read_codes_txt,
    standard_classes,
)
from dronefast.errors import ClassTableError


def test_standard_table_matches_dataset(classes):
    assert len(classes) == 24
    assert classes.codes[0] == "unlabeled" and classes.codes[15] == "person" and classes.codes[23] == "conflicting"
    assert classes.colours[1] == (128, 64, 128)  # paved-area
    assert classes.colours[17] == (9, 143, 150)  # car
    assert classes.palette.shape == (24, 3) and classes.palette.dtype.name == "uint8"
    assert classes.id_of("tree") == 19


def test_csv_with_spaces_after_commas(tmp_path):
    f = tmp_path / "class_dict_seg.csv"
    f.write_text("name, r, g, b\nunlabeled, 0, 0, 0\npaved-area, 128, 64, 128\ndirt, 130, 76, 0\n")
    t = read_class_csv(f)
    assert t.names == ("unlabeled", "paved-area", "dirt")
    assert t.colours == ((0, 0, 0), (128, 64, 128), (130, 76, 0))
    assert t.source == str(f)


def test_csv_round_trip(tmp_path, classes):
    f = tmp_path / "class_dict.csv"
    f.write_text(classes.to_csv())
    assert f.read_text().splitlines()[0] == "name, r, g, b"
    assert read_class_csv(f) == classes


@pytest.mark.parametrize("text, problem", [
    ("nom, r, g, b\nx, 1, 2, 3\n", "expected the header"),
    ("name, r, g, b\nx, 1, 2\n", "line 2: expected 4 fields"),
    ("name, r, g, b\nx, 1, 2, red\n", "line 2, column 4: colour values must be integers"),
    ("name, r, g, b\nx, 1, 2, 300\n", "line 2, column 4: colour values must be 0..255"),
    ("name, r, g, b\nx, 1, 2, 3\ny, 1, 2, 3\n",
     "line 3: colour (1, 2, 3) of 'y' is already the colour of 'x' on line 2"),
    ("", "empty"),
])
def test_bad_csv_names_file_and_problem(tmp_path, text, problem):
    f = tmp_path / "class_dict.csv"
    f.write_text(text)
    with pytest.raises(ClassTableError) as e:
        read_class_csv(f)
    assert problem in str(e.value) and str(f) in str(e.value)


def test_codes_txt_takes_standard_colours(tmp_path):
    f = tmp_path / "codes.txt"
    f.write_text("unlabeled\ngrass\nmy-new-class\n")
    t = read_codes_txt(f)
    assert t.names == ("unlabeled", "grass", "my-new-class")
    assert t.colours[:2] == ((0, 0, 0), (0, 102, 0))
    assert t.colours[2] not in dict(STANDARD_CLASSES).values() or t.colours[2] not in t.colours[:2]
    assert len(set(t.colours)) == 3


def test_find_class_table_order(tmp_path, classes):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (b / "codes.txt").write_text("unlabeled\ngrass\n")
    assert find_class_table([a, b]).names == ("unlabeled", "grass")
    assert find_class_table([a]) == standard_classes()
    (a / "class_dict.csv").write_text(classes.to_csv())
    assert find_class_table([a, b]) == classes


def test_dict_round_trip(classes):
    assert ClassTable.from_dict(classes.to_dict()) == classes
