"""`GitRepo`: the git layer's one class, built up layer by layer.

base (open, revisions, signatures) < read (trees, files, diffs) < history (path
histories) < write (commits) < push (remotes); each module adds one concern.
"""

from __future__ import annotations

from pipeline.gitrepo.push import Remotes


class GitRepo(Remotes):
    """A git repository opened with pygit2; every read names the revision it reads."""
