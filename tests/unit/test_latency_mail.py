"""`thuisbest latency` counts the run's mail and the promised placements announced as changed."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from tools.latency import mail_files, promises_changed


def write(folder: Path, name: str, subject: str) -> None:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg.set_content("body")
    (folder / name).write_bytes(msg.as_bytes())


def test_only_changed_placements_count_once_per_case(tmp_path: Path) -> None:
    write(tmp_path, "1-placement_assigned-coord.eml", "Plaatsing c-1: De Kreek (Ossendrecht) vanaf ma 7 dec")
    write(tmp_path, "2-placement_assigned-coord.eml", "Gewijzigd: plaatsing c-2: De Kreek vanaf di 8 dec")
    write(tmp_path, "3-placement_assigned-th-1.eml", "Gewijzigd: plaatsing c-2: De Kreek vanaf di 8 dec")
    write(tmp_path, "4-placement_assigned-th-2.eml", "Changed: placement c-3: De Kreek from Tue 8 Dec")
    write(tmp_path, "5-waitlisted-coord.eml", "Gewijzigd: plaatsing c-4 is not a placement mail")
    (tmp_path / "notes.txt").write_text("not mail")
    names = mail_files(tmp_path)
    assert len(names) == 5
    assert promises_changed(tmp_path, names) == {"c-2", "c-3"}
    assert mail_files(tmp_path / "absent") == set() and mail_files(None) == set()
