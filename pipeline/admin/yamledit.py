"""An environment.yaml edited in its round-trip tree: comments, order and layout kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pipeline import layout
from pipeline.admin.state import load_environment
from pipeline.errors import InputError
from pipeline.models.base import NAME_PATTERN
from pipeline.names import unknown_name
from pipeline.policy.edit import YAML_WIDTH, block_map, block_seq
from pipeline.snapshot import Loaded, Snapshot
from pipeline.yamlio import dump_yaml


def require_new_name(kind: str, name: str) -> str:
    """`name` when it is a valid name (lower-case letters, digits and '-')."""
    if not re.match(NAME_PATTERN, name):
        raise InputError(
            f"{kind} name {name!r} must be lower-case letters, digits and '-' (at most 63)",
            hint="e.g. acme or canary-eu",
        )
    return name


@dataclass
class EnvironmentFile:
    """One environment's file: the validated model (for line numbers) and the tree to edit."""

    env: str
    loaded: Loaded[Any]
    tree: CommentedMap

    @classmethod
    def read(cls, snapshot: Snapshot, env: str) -> EnvironmentFile:
        """The environment's file at `snapshot` ("did you mean" for an unknown one)."""
        loaded = load_environment(snapshot, env)
        return cls(env, loaded, loaded.doc.tree)

    @property
    def path(self) -> str:
        return layout.environment_path(self.env)

    def content(self) -> bytes:
        """The edited file (a list or mapping left empty is written `[]` / `{}`)."""
        for key, kind in (("tenants", CommentedSeq), ("groups", CommentedMap)):
            value = self.tree.get(key)
            if isinstance(value, kind) and not value:
                empty = kind()
                empty.fa.set_flow_style()
                self.tree[key] = empty
                self.tree.ca.items.pop(key, None)  # its comments went with what it held
        return dump_yaml(self.tree, width=YAML_WIDTH).encode()

    def tenants(self) -> CommentedSeq:
        """The `tenants:` list (created, block style, when absent)."""
        return block_seq(self.tree, "tenants")

    def groups(self) -> CommentedMap:
        """The `groups:` mapping (created, block style, when absent)."""
        return block_map(self.tree, "groups")

    def tenant_ids(self) -> list[str]:
        return [str(item.get("id")) for item in self.tree.get("tenants") or []]

    def tenant(self, tenant: str) -> CommentedMap:
        """The tenant's entry; "did you mean" when the environment has none."""
        for item in self.tree.get("tenants") or []:
            if item.get("id") == tenant:
                return item  # type: ignore[no-any-return]
        raise unknown_name(
            "tenant",
            tenant,
            self.tenant_ids(),
            where=f"in environment {self.env}",
            location=self.loaded.locate("tenants"),
        )

    def tenant_index(self, tenant: str) -> int:
        return self.tenant_ids().index(tenant)

    def group(self, group: str) -> Any:
        """The group's member list; "did you mean" when the environment has none."""
        groups = self.tree.get("groups") or {}
        if group not in groups:
            raise unknown_name(
                "group",
                group,
                list(groups),
                where=f"in environment {self.env}",
                location=self.loaded.locate("groups"),
            )
        return groups[group]

    def groups_of(self, tenant: str) -> list[str]:
        groups = self.tree.get("groups") or {}
        return [name for name, members in groups.items() if tenant in (members or [])]
