"""Checkpoints (trainers/README.md §8): complete objects a retry can trust.

A checkpoint is one object `<checkpointPrefix>step-<n>.<ext>`, written with a single PUT whose
metadata carries `step` and the `sha256` of the bytes; the `checkpoint` line is printed only
after the PUT succeeded. The activity resumes only from a checkpoint whose bytes match its
sha256, and `read` checks it again, so a partial or foreign object is never loaded.
"""
from __future__ import annotations

import hashlib

from . import emit
from .contract import Resume
from .errors import BadInput
from .s3 import S3


def write(s3: S3, prefix: str, step: int, body: bytes, *, ext: str = "txt",
          content_type: str = "application/octet-stream") -> str:
    """Writes the checkpoint of `step` under `prefix`, then prints its `checkpoint` line; returns its URI."""
    uri = f"{prefix}step-{int(step)}.{ext}"
    meta = {"sha256": hashlib.sha256(body).hexdigest(), "step": str(int(step)), "contract": "mlo.trainer/v1"}
    s3.put_bytes(uri, body, content_type=content_type, metadata=meta)
    emit.checkpoint(uri, step)
    return uri


def read(s3: S3, resume: Resume) -> bytes:
    """The bytes of the checkpoint to resume from, checked against the sha256 and step it was written with."""
    body, meta = s3.get_with_metadata(resume.uri, "the resume checkpoint")
    sha = meta.get("sha256")
    if sha is not None and hashlib.sha256(body).hexdigest() != sha:
        raise BadInput(f"resume.uri {resume.uri} does not match the sha256 it was written with (a partial or "
                       "overwritten object); resume from a complete checkpoint")
    step = meta.get("step")
    if step is not None and step != str(resume.step):
        raise BadInput(f"resume.step is {resume.step} but the checkpoint {resume.uri} was written at step {step}; "
                       "pass the step of its checkpoint line")
    return body
