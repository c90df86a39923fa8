"""Safe writing: whole files with the umask's mode, and run folders that never mix two runs."""

import os
import stat

import pytest

from latentseg.files import atomic_path, check_run_folder, run_folder, write_text_atomic


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_get_the_mode_open_would_give_them(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        with open(tmp_path / "b.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == stat.S_IMODE((tmp_path / "b.txt").stat().st_mode)


def test_a_run_folder_holds_one_run_whole(tmp_path):
    out = tmp_path / "run"
    with run_folder(out) as staging:
        (staging / "model.pt").write_text("one")
        (staging / "predictions.png").write_text("one")
    with pytest.raises(KeyboardInterrupt):
        with run_folder(out) as staging:
            (staging / "model.pt").write_text("two")
            raise KeyboardInterrupt  # Ctrl-C between two files of the new run
    assert {p.name: p.read_text() for p in out.iterdir()} == {"model.pt": "one", "predictions.png": "one"}
    with run_folder(out) as staging:
        (staging / "model.pt").write_text("three")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"model.pt": "three"}, "nothing of run one is left"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_check_run_folder(tmp_path):
    names = ("model.pt", "history.json")
    assert check_run_folder(tmp_path / "new" / "deeper", names) == tmp_path / "new" / "deeper"
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.pt").write_text("a previous run")
    check_run_folder(tmp_path / "old", names)
    (tmp_path / "old" / "notes.md").write_text("mine")
    with pytest.raises(ValueError, match="holds notes.md, which are not a run's files"):
        check_run_folder(tmp_path / "old", names)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file: is a file"):
        check_run_folder(tmp_path / "file", names)
    with pytest.raises(NotADirectoryError, match="cannot be created"):
        check_run_folder(tmp_path / "file" / "run", names)


def test_a_folder_that_only_looks_writable_is_found_before_any_work():
    """/proc passes a permission check for root, but nothing can be created there."""
    from pathlib import Path

    from latentseg.files import check_out_folder, check_run_folder

    if not Path("/proc").is_dir():
        pytest.skip("this system has no /proc")
    for check in (check_out_folder, lambda folder: check_run_folder(folder, ["model.pt"])):
        with pytest.raises(OSError, match="/proc/latentseg-test: cannot write in /proc"):
            check("/proc/latentseg-test")
