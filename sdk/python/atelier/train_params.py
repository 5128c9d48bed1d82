"""Training inputs, code and outputs: InputData, TrainingFiles and OutputData.

These are the ModelArts ``modelarts.train_params`` classes. They only hold
and check what the user gave; the estimators (``atelier.estimator``) stage
them. Paths on OBS may be written ``obs://bucket/key``, ``s3://bucket/key``
or ``/bucket/key``.
"""

import os

from . import paths

_REMOTE_SCHEMES = ("obs://", "s3://")


def _is_remote_spelling(p):
    low = p[:6].lower()
    return low.startswith(_REMOTE_SCHEMES)


def _check_str(value, param, required=True):
    if value is None:
        if required:
            raise ValueError("%s is required" % param)
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))
    if not value:
        if required:
            raise ValueError("%s must not be empty" % param)
        return None
    return value


def _check_obs(value, param, required=True, directory=False):
    value = _check_str(value, param, required)
    if value is None:
        return None
    p = paths.parse(value, param)
    if directory and not p.is_dir:
        raise ValueError("%s must be an OBS directory ending with '/': %r" % (param, value))
    return value


def _check_local(value, param, required=True):
    value = _check_str(value, param, required)
    if value is None:
        return None
    if _is_remote_spelling(value):
        raise ValueError("%s must be a local path, not an OBS path: %r" % (param, value))
    return value


class InputData:
    """InputData is one training input.

    ``is_local_source=False`` (the default): the data is on OBS at
    ``obs_path`` (required; a directory ending in '/', a ``.zip`` object,
    which is unpacked, or a single object) and is put at ``local_path``
    (required), where the training script reads it.

    ``is_local_source=True``: the data is the local directory ``local_path``
    (required) and is used in place by local runs. ``obs_path`` is
    optional: when given, the directory is zipped and uploaded there when
    training starts, once per InputData object (an OBS directory gets
    ``<local dir name>.zip`` inside it; a path ending in ``.zip`` names the
    object). Remote runs need that upload, so they require ``obs_path``.
    After a first upload, prefer ``InputData(obs_path=<the zip>,
    is_local_source=False)``.

    Plain data; not safe for concurrent mutation.
    """

    def __init__(self, obs_path=None, local_path=None, is_local_source=False):
        if not isinstance(is_local_source, bool):
            raise TypeError("is_local_source must be True or False")
        self.is_local_source = is_local_source
        self.local_path = _check_local(local_path, "local_path")
        self.obs_path = _check_obs(obs_path, "obs_path", required=not is_local_source)
        self.uploaded_obs_path = None
        """The OBS .zip this input was uploaded to (is_local_source with obs_path), once done."""

    def __repr__(self):
        return "InputData(obs_path=%r, local_path=%r, is_local_source=%r)" % (
            self.obs_path, self.local_path, self.is_local_source)


class TrainingFiles:
    """TrainingFiles is the training code: a local directory and its boot file.

    ``code_dir`` (required) is a local directory, not an OBS path.
    ``boot_file`` (required) is the script to start, relative to
    ``code_dir`` (an absolute path inside ``code_dir`` is made relative).
    ``obs_path`` (an OBS directory) is where remote runs upload the zipped
    code directory (``<code dir name>.zip``); local runs do not need it.

    Plain data; not safe for concurrent mutation.
    """

    def __init__(self, code_dir, boot_file, obs_path=None):
        self.code_dir = _check_local(code_dir, "code_dir")
        self.boot_file = relative_boot_file(self.code_dir, _check_local(boot_file, "boot_file"))
        self.obs_path = _check_obs(obs_path, "obs_path", required=False, directory=True)

    def __repr__(self):
        return "TrainingFiles(code_dir=%r, boot_file=%r, obs_path=%r)" % (
            self.code_dir, self.boot_file, self.obs_path)


class OutputData:
    """OutputData is one training output: a local directory uploaded to OBS.

    The training script writes into ``local_path`` (required); when the run
    ends (whatever its end) the directory's files are uploaded under
    ``obs_path`` (required, an OBS directory ending in '/').

    Plain data; not safe for concurrent mutation.
    """

    def __init__(self, local_path, obs_path):
        self.local_path = _check_local(local_path, "local_path")
        self.obs_path = _check_obs(obs_path, "obs_path", directory=True)

    def __repr__(self):
        return "OutputData(local_path=%r, obs_path=%r)" % (self.local_path, self.obs_path)


def relative_boot_file(code_dir, boot_file):
    """``boot_file`` relative to ``code_dir`` with '/' separators; ValueError when it escapes."""
    if os.path.isabs(boot_file):
        root = os.path.normpath(code_dir)
        full = os.path.normpath(boot_file)
        if not (full + os.sep).startswith(root.rstrip(os.sep) + os.sep) or full == root:
            raise ValueError("boot_file must be inside code_dir %r: %r" % (code_dir, boot_file))
        boot_file = os.path.relpath(full, root)
    rel = os.path.normpath(boot_file).replace(os.sep, "/")
    if rel in (".", "") or rel == ".." or rel.startswith("../"):
        raise ValueError("boot_file must name a file inside code_dir: %r" % boot_file)
    return rel
