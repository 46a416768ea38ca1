"""The data lake as an fsspec filesystem: file paths, file://, s3://, gs://, ADLS (https://<account>.dfs.core.windows.net/,
abfs://, az://) alike. Which options reach each store: `workloads.shared.lake_url`."""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from fsspec import AbstractFileSystem, filesystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from workloads.shared.lake_url import adls_account_path


@dataclass(frozen=True)
class Lake:
    """A prefix in a filesystem; every path argument is relative to that prefix."""

    fs: AbstractFileSystem
    root: str
    """The prefix as the filesystem spells it (no protocol, no trailing slash)."""
    storage_options: Mapping[str, Any]
    """What `fs` was made with: with `url()`, all that DCP's fsspec reader and writer need to reach the lake."""

    @classmethod
    def open(cls, url: str, storage_options: Mapping[str, Any] | None = None) -> Lake:
        """The lake at `url`. An account-level ADLS URL (`https://acct.dfs.core.windows.net/<container>/<path>`)
        opens adlfs on that account; with no credentials in the options adlfs uses DefaultAzureCredential."""
        options = dict(storage_options or {})
        adls = adls_account_path(url)
        if adls is not None:
            account, path = adls
            options = {"account_name": account, **options}
            return cls(filesystem("abfs", **options), path, options)
        fs, root = url_to_fs(url, **options)
        return cls(fs, root.rstrip("/"), options)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def url(self, *parts: str) -> str:
        """A full URL (with protocol) of a path, for libraries that take URLs plus storage options."""
        return self.fs.unstrip_protocol(self.path(*parts))

    def child(self, *parts: str) -> Lake:
        return Lake(self.fs, self.path(*parts), self.storage_options)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    def read_bytes(self, *parts: str) -> bytes:
        return cast(bytes, self.fs.cat_file(self.path(*parts)))

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write one object. Readers never see a partial file: a temp file renamed into place on local
        disks, a single PUT on object stores (which are atomic per object)."""
        target = self.path(*parts)
        if self.is_local:
            self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            temp = f"{target}.tmp-{uuid.uuid4().hex}"
            self.fs.pipe_file(temp, data)
            self.fs.mv(temp, target)
        else:
            self.fs.pipe_file(target, data)

    def list_dirs(self, *parts: str) -> list[str]:
        """Names of the sub-directories (prefixes) directly under a path; empty if it does not exist."""
        base = self.path(*parts)
        self.fs.invalidate_cache(base)  # other processes write here too
        if not self.fs.exists(base):
            return []
        return [
            posixpath.basename(e["name"].rstrip("/")) for e in self.fs.ls(base, detail=True) if e["type"] == "directory"
        ]

    def remove_tree(self, *parts: str) -> None:
        self.fs.rm(self.path(*parts), recursive=True)
