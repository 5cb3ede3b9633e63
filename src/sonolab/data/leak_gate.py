"""The leakage gate every training passes: audit the splits just made, record the audit in the run,
and stop on a leak unless the user gave a reason to go on (`--allow-leaks "reason"`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sonolab.atomic import write_json_atomic
from sonolab.data.audit import AuditReport, audit_splits
from sonolab.data.items import DatasetIndex
from sonolab.data.splits import Splits
from sonolab.errors import DatasetError

AUDIT_FILE = "leak_audit.json"
MAX_IDS_IN_MESSAGE = 6


class LeakError(DatasetError):
    """The splits of a training put copies of one recording (or one group) on both sides."""


def leak_lines(report: AuditReport) -> list[str]:
    """One console line per leak, naming both item ids and what matched."""
    return [f"LEAK {leak.fold} {leak.kind}: {leak.detail}; ids: {', '.join(leak.ids)}" for leak in report.leaks]


def _message(report: AuditReport, audit_path: Path) -> str:
    pairs = []
    for leak in report.leaks:
        text = " <-> ".join(leak.ids[:2]) + (f" (+{len(leak.ids) - 2})" if len(leak.ids) > 2 else "")
        if text not in pairs:
            pairs.append(text)
    shown = "; ".join(pairs[:MAX_IDS_IN_MESSAGE]) + (f"; ... {len(pairs) - MAX_IDS_IN_MESSAGE} more" if len(pairs) > MAX_IDS_IN_MESSAGE else "")
    counts = ", ".join(f"{kind}: {count}" for kind, count in report.counts().items() if count)
    return (f"{audit_path}: {len(report.leaks)} leaks across partitions ({counts}): {shown} "
            "(fix: give copies of one recording one group (a group column, or variant names like x_aug1.wav) "
            "or remove the copies, or pass --allow-leaks \"reason\" to train anyway)")


def audit_training_splits(
    index: DatasetIndex,
    splits: Splits,
    cache_dir: Path,
    run_dir: Path,
    allow_leaks_reason: str | None,
    progress: bool = False,
    workers: int | None = None,
    check_audio: bool = True,
    note: str | None = None,
) -> dict[str, Any]:
    """Audit every fold of `splits` (groups, parents, identical audio and copies), write
    `run_dir/leak_audit.json` atomically and return its content.

    Fingerprints are cached under `cache_dir/content_fingerprints/` and reused while files are
    unchanged. On a leak, raises `LeakError` (one line: the offending ids and the fix) unless
    `allow_leaks_reason` is a non-empty reason, which is then recorded in the audit file.
    """
    reason = (allow_leaks_reason or "").strip() or None
    paths = {item.item_id: item.path for item in index.items}
    report = audit_splits(splits, check_audio=check_audio, cache_dir=cache_dir, paths=paths, workers=workers, progress=progress)
    payload = report.to_dict()
    payload["content_check"] = note or ("every pair across partitions" if check_audio else "skipped")
    payload["allowed"] = bool(report.leaks) and reason is not None
    payload["allow_leaks_reason"] = reason
    payload["lines"] = leak_lines(report)
    audit_path = Path(run_dir) / AUDIT_FILE
    write_json_atomic(audit_path, payload)
    if report.leaks and reason is None:
        raise LeakError(_message(report, audit_path))
    return payload
