"""Datasets: create, import, label, version and export (the ModelArts ``dataset`` API).

``from modelarts.dataset import Dataset`` gives :class:`Dataset`, so that the
ModelArts manual's dataset samples run against an Atelier server::

    data_sources = {"type": 0, "path": "/bucket/data/image/"}
    work_path = {"type": 0, "path": "/bucket/output/work_path/"}
    resp = Dataset.create_dataset(session, dataset_name="dataset-image", data_type="IMAGE",
                                  data_sources=data_sources, work_path=work_path)
    dataset = Dataset(session, resp["dataset_id"])
    task = dataset.import_data(path="/bucket/more/", annotation_config={
        "scene": "object_detection", "format_name": "ModelArts PASCAL VOC 1.0"})
    dataset.wait_import(task["task_id"])

Every method is one call of the datasets API (docs/api.md, "Datasets") and
returns its decoded JSON answer (dicts and lists of dicts). Arguments the SDK
can check itself raise ValueError or TypeError, naming the argument, before
any request is sent; refusals of the server raise
:class:`~atelier.errors.AtelierError` with the server's code
(``ATL.DST.*``).

Differences from ModelArts: a dataset has one data source (``data_sources``
is a dict, or a list holding one dict) and its type must be 0 (OBS);
versions are named by the server (``V001``, ``V002``, …), so the
``version_name`` of :meth:`Dataset.create_version` is not sent (a warning
says so when the server chose another name).
"""

import numbers
import time
import warnings

from . import paths

DATA_TYPES = ("IMAGE", "TEXT", "AUDIO", "TABLE", "VIDEO", "FREE_FORMAT")
"""The data types a dataset may hold (ModelArts ``data_type``)."""

DATASET_TYPES = {
    0: "IMAGE",  # image classification
    1: "IMAGE",  # object detection
    3: "IMAGE",  # image segmentation
    100: "TEXT",  # text classification
    101: "TEXT",  # named entity recognition
    102: "TEXT",  # text triplet
    200: "AUDIO",  # sound classification
    201: "AUDIO",  # speech content
    202: "AUDIO",  # speech paragraph
    400: "TABLE",
    600: "VIDEO",
    900: "FREE_FORMAT",
}
"""The labelling tasks (ModelArts ``dataset_type``) and the data type each implies."""

USAGES = ("TRAIN", "EVAL", "TEST", "INFERENCE")
"""The usages a sample may have."""

IMPORT_FINAL_STATES = ("COMPLETED", "FAILED")
"""The states in which an import task has ended."""

MAX_PAGE = 1000
"""The most samples the server answers per page."""

_OBS_SOURCE = 0


# -- argument checks ---------------------------------------------------------------


def _obs_path(value, param):
    """An OBS path (obs://, s3:// or /bucket/key) in the ``/bucket/key`` spelling."""
    p = paths.parse(value, param)
    return "/%s/%s" % (p.bucket, p.key)


def _source_type(value, param):
    """Check that a source type is OBS (0 or "0"); None counts as OBS."""
    if value is None:
        return
    if isinstance(value, bool) or str(value).strip() != str(_OBS_SOURCE):
        raise ValueError("%s must be 0 (OBS), the only source type Atelier has: %r"
                         % (param, value))


def _dir_path(value, param):
    """An OBS directory in the ``/bucket/dir/`` spelling; a missing final '/' is added."""
    p = _obs_path(value, param)
    return p if p.endswith("/") else p + "/"


def _location(value, param):
    """A ``{"type": 0, "path": ...}`` dict (or a bare path string) as a ``/bucket/dir/`` path."""
    if isinstance(value, str):
        return _dir_path(value, param)
    if not isinstance(value, dict):
        raise TypeError("%s must be a dict like {'type': 0, 'path': '/bucket/dir/'}, not %s"
                        % (param, type(value).__name__))
    _source_type(value.get("type"), "%s['type']" % param)
    if not value.get("path"):
        raise ValueError("%s['path'] is missing: give the OBS directory, e.g. '/bucket/dir/'"
                         % param)
    return _dir_path(value["path"], "%s['path']" % param)


def _bool(value, param):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TypeError("%s must be True or False, not %r" % (param, value))


def _annotation_config(value, param):
    """An ``annotation_config`` as the wire's ``{"scene","format_name"}``; None stays None.

    An empty dict stays an empty dict: for a manifest import it means
    "import the manifest's annotations".
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError("%s must be a dict like {'scene': 'object_detection', 'format_name': "
                        "'ModelArts PASCAL VOC 1.0'}, not %s" % (param, type(value).__name__))
    out = {}
    for k in ("scene", "format_name"):
        v = value.get(k)
        if v is None:
            continue
        if not isinstance(v, str):
            raise TypeError("%s['%s'] must be a str, not %s" % (param, k, type(v).__name__))
        if v:
            out[k] = v
    ignored = sorted(str(k) for k in value if k not in ("scene", "format_name"))
    if ignored:
        warnings.warn("%s: the keys %s have no meaning on Atelier and are ignored"
                      % (param, ", ".join(ignored)), UserWarning, stacklevel=3)
    return out


def _data_type(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("data_type must be a str such as 'IMAGE', not %s" % type(value).__name__)
    dt = value.strip().upper()
    if dt not in DATA_TYPES:
        raise ValueError("data_type must be one of %s: %r" % (", ".join(DATA_TYPES), value))
    return dt


def _dataset_type(value):
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("dataset_type must be an int such as 0, not a bool")
    if isinstance(value, numbers.Integral):
        code = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        code = int(value.strip())
    else:
        raise TypeError("dataset_type must be an int such as 0 or 102, not %r" % (value,))
    if code not in DATASET_TYPES:
        raise ValueError("dataset_type must be one of %s: %r"
                         % (", ".join(str(c) for c in sorted(DATASET_TYPES)), value))
    return code


def _name(value, param):
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))
    if not value.strip():
        raise ValueError("%s must not be empty" % param)
    return value


def _labels(value):
    """Labels as wire Labels: ``[{"name","type","property"?,"color"?}]``."""
    if value is None:
        return None
    if isinstance(value, dict) or not isinstance(value, (list, tuple)):
        raise TypeError("labels must be a list of dicts like {'name': 'cat', 'type': 0}")
    out = []
    for i, lab in enumerate(value):
        where = "labels[%d]" % i
        if not isinstance(lab, dict):
            raise TypeError("%s must be a dict with 'name' and 'type'" % where)
        unknown = sorted(str(k) for k in lab if k not in ("name", "type", "property", "color"))
        if unknown:
            raise ValueError("%s has unknown keys %s" % (where, ", ".join(unknown)))
        entry = {"name": _name(lab.get("name"), where + "['name']")}
        t = lab.get("type", 0)
        if isinstance(t, str) and t.strip().isdigit():
            t = int(t.strip())
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            raise TypeError("%s['type'] must be 0 (plain), 101 (entity) or 102 (relation): %r"
                            % (where, t))
        entry["type"] = int(t)
        prop = lab.get("property")
        if prop is not None:
            if not isinstance(prop, dict):
                raise TypeError("%s['property'] must be a dict" % where)
            entry["property"] = {str(k): v if isinstance(v, str) else str(v)
                                 for k, v in prop.items()}
        if lab.get("color") is not None:
            entry["color"] = lab["color"]
        out.append(entry)
    return out


def _schema(value):
    """Table columns as wire SchemaColumns: ``[{"schema_id","name","type"}]``."""
    if value is None:
        return None
    if isinstance(value, dict) or not isinstance(value, (list, tuple)):
        raise TypeError("schema must be a list of dicts like "
                        "{'schema_id': 0, 'name': 'age', 'type': 'STRING'}")
    out = []
    for i, col in enumerate(value):
        where = "schema[%d]" % i
        if not isinstance(col, dict):
            raise TypeError("%s must be a dict with 'schema_id', 'name' and 'type'" % where)
        sid = col.get("schema_id", i)
        if isinstance(sid, str) and sid.strip().isdigit():
            sid = int(sid.strip())
        if isinstance(sid, bool) or not isinstance(sid, numbers.Integral):
            raise TypeError("%s['schema_id'] must be an int: %r" % (where, sid))
        out.append({"schema_id": int(sid), "name": _name(col.get("name"), where + "['name']"),
                    "type": _name(col.get("type", "STRING"), where + "['type']").upper()})
    return out


def _usage(value, param="usage"):
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().upper() not in USAGES:
        raise ValueError("%s must be one of %s: %r" % (param, ", ".join(USAGES), value))
    return value.strip().upper()


def _id(value, param):
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
        raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))
    value = str(value)
    if not value or "/" in value:
        raise ValueError("%s must be a non-empty id without '/': %r" % (param, value))
    return value


def _dataset_path(dataset_id, *rest):
    p = "/v1/datasets/" + paths.quote_bucket(dataset_id)
    for r in rest:
        p += "/" + paths.quote_bucket(str(r))
    return p


def _list_field(doc, field):
    return list((doc or {}).get(field) or [])


# -- the dataset ---------------------------------------------------------------------


class Dataset:
    """Dataset is one dataset of the caller's tenant on the server.

    ``Dataset(session, dataset_id)`` sends nothing; its methods call the
    datasets API. It holds only the session and the id, and is safe for
    concurrent use as far as the Session is.
    """

    def __init__(self, session, dataset_id):
        self.session = session
        self.dataset_id = _id(dataset_id, "dataset_id")

    def __repr__(self):
        return "Dataset(dataset_id=%r)" % self.dataset_id

    def _call(self, method, *rest, query=None, json_body=None):
        return self.session.call(method, _dataset_path(self.dataset_id, *rest),
                                 query=query, json_body=json_body)

    # -- the collection ----------------------------------------------------------

    @staticmethod
    def create_dataset(session, dataset_name, data_type=None, dataset_type=None,
                       data_sources=None, work_path=None, labels=None, schema=None,
                       description=None):
        """Create a dataset and start importing its data source.

        ``data_type`` (IMAGE, TEXT, AUDIO, TABLE, VIDEO, FREE_FORMAT) or
        ``dataset_type`` (the labelling task: 0 image classification, 1
        object detection, 102 text triplet, 400 table, …) must be given; both
        must agree. ``data_sources`` is ``{"type": 0, "path": "/bucket/dir/",
        "annotation_config": {"scene", "format_name"}, "with_column_header":
        bool}`` (type 0 or "0", OBS); ``work_path`` is ``{"type": 0, "path":
        "/bucket/dir/"}`` where annotations and versions go. ``labels`` are
        ``[{"name", "type", "property"}]`` (type 101 entities, 102 relations
        with ``@modelarts:from_type``/``@modelarts:to_type``); ``schema`` the
        table's columns ``[{"schema_id", "name", "type"}]``. Paths may be
        written ``/bucket/dir/``, ``obs://bucket/dir/`` or
        ``s3://bucket/dir/``; both name directories, so a missing final '/'
        is added.

        Returns the new dataset's dict (``dataset_id``, ``dataset_name``, …)
        with ``import_task_id`` and ``import_task``: the import of the source.
        """
        spec = {"dataset_name": _name(dataset_name, "dataset_name")}
        dt = _data_type(data_type)
        code = _dataset_type(dataset_type)
        if dt is None and code is None:
            raise ValueError("give data_type (e.g. 'IMAGE') or dataset_type (e.g. 0 for image "
                             "classification); neither was given")
        if dt is not None and code is not None and DATASET_TYPES[code] != dt:
            raise ValueError("dataset_type %d holds %s data, but data_type is %r"
                             % (code, DATASET_TYPES[code], dt))
        if dt is not None:
            spec["data_type"] = dt
        if code is not None:
            spec["dataset_type"] = code
        if description is not None:
            spec["description"] = _str(description, "description")

        if data_sources is None:
            raise ValueError("data_sources is missing: give {'type': 0, 'path': '/bucket/dir/'}")
        if isinstance(data_sources, (list, tuple)):
            if len(data_sources) != 1:
                raise ValueError("data_sources must hold exactly one source on Atelier, not %d"
                                 % len(data_sources))
            src, where = data_sources[0], "data_sources[0]"
        else:
            src, where = data_sources, "data_sources"
        spec["data_path"] = _location(src, where)
        if isinstance(src, dict):
            ac = _annotation_config(src.get("annotation_config"), where + "['annotation_config']")
            if ac is not None:
                spec["annotation_config"] = ac
            header = _bool(src.get("with_column_header"), where + "['with_column_header']")
            if header:
                spec["with_column_header"] = True

        if work_path is None:
            raise ValueError("work_path is missing: give {'type': 0, 'path': '/bucket/dir/'}, "
                             "where annotations and versions are written")
        spec["work_path"] = _location(work_path, "work_path")
        lab = _labels(labels)
        if lab:
            spec["labels"] = lab
        sch = _schema(schema)
        if sch:
            spec["schema"] = sch

        doc = session.call("POST", "/v1/datasets", json_body=spec) or {}
        out = dict(doc.get("dataset") or {})
        task = doc.get("import_task")
        if isinstance(task, dict):
            out["import_task_id"] = task.get("task_id")
            out["import_task"] = task
        return out

    @staticmethod
    def list_datasets(session, dataset_name=None):
        """The caller's datasets (dicts), optionally only those whose name matches ``dataset_name``."""
        query = None
        if dataset_name is not None:
            query = {"name": _str(dataset_name, "dataset_name")}
        return _list_field(session.call("GET", "/v1/datasets", query=query), "datasets")

    # -- the dataset itself ------------------------------------------------------

    def get_dataset_info(self):
        """The dataset's dict: name, types, paths, labels, schema, sample counts, times."""
        return self._call("GET") or {}

    def update_dataset(self, dataset_name=None, description=None, labels=None):
        """Rename the dataset, change its description or replace its labels; returns its dict.

        Arguments left None stay as they are; ``labels`` replaces the whole
        list (annotations using a removed label keep their name).
        """
        body = {}
        if dataset_name is not None:
            body["dataset_name"] = _name(dataset_name, "dataset_name")
        if description is not None:
            body["description"] = _str(description, "description")
        if labels is not None:
            body["labels"] = _labels(labels)
        if not body:
            raise ValueError("update_dataset needs dataset_name, description or labels")
        return self._call("PATCH", json_body=body) or {}

    def delete_dataset(self, delete_source=False):
        """Delete the dataset, its samples, versions and tasks; with ``delete_source``
        also the source objects under its data path."""
        query = {"delete_source": "true"} if _bool(delete_source, "delete_source") else None
        self._call("DELETE", query=query)

    def get_dataset_stats(self):
        """Sample counts: ``total_sample_count``, ``annotated_sample_count``,
        ``label_stats`` {label: n} and ``usage_stats`` {usage: n}."""
        return self._call("GET", "stats") or {}

    # -- imports -----------------------------------------------------------------

    def import_data(self, path, annotation_config=None, with_column_header=None):
        """Import a directory or a manifest file into the dataset; returns the import task's dict.

        ``path`` is an OBS directory (``/bucket/dir/``) or a ``.manifest``
        file. ``annotation_config`` (``{"scene", "format_name"}``) imports
        the annotations of a directory in that layout; for a manifest an
        empty dict imports the manifest's annotations and None only the
        data. ``with_column_header`` says whether table files start with a
        header row. The task runs on the server: poll it with
        :meth:`get_import_task` or :meth:`wait_import`.
        """
        body = {"import_path": _obs_path(path, "path")}
        ac = _annotation_config(annotation_config, "annotation_config")
        if ac is not None:
            body["annotation_config"] = ac
        header = _bool(with_column_header, "with_column_header")
        if header is not None:
            body["with_column_header"] = header
        return self._call("POST", "imports", json_body=body) or {}

    def list_import_tasks(self):
        """The dataset's import tasks (dicts: ``task_id``, ``status``, ``imported_sample_count``, …)."""
        return _list_field(self._call("GET", "imports"), "import_tasks")

    def get_import_task(self, task_id):
        """One import task's dict."""
        return self._call("GET", "imports", _id(task_id, "task_id")) or {}

    def wait_import(self, task_id, timeout=600, poll_interval=0.5):
        """Wait until an import task ends; returns its final dict.

        The task has ended when its ``status`` is COMPLETED or FAILED; a
        FAILED task is returned too (its ``errors`` say why), so check
        ``status``. Raises TimeoutError when it has not ended within
        ``timeout`` seconds (None: wait forever).
        """
        task_id = _id(task_id, "task_id")
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        delay = min(0.05, poll_interval)
        while True:
            task = self.get_import_task(task_id)
            if task.get("status") in IMPORT_FINAL_STATES:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("import task %s of dataset %s is still %s after %ss"
                                   % (task_id, self.dataset_id, task.get("status"), timeout))
            time.sleep(delay)
            delay = min(delay * 2, poll_interval)

    # -- samples -----------------------------------------------------------------

    def iter_samples(self, labelled=None, label=None, usage=None, page_size=500):
        """Yield the matching samples one by one, fetching page after page.

        ``labelled`` True: annotated samples only, False: unannotated only;
        ``label``: only samples with that label; ``usage``: TRAIN, EVAL,
        TEST or INFERENCE.
        """
        query = {}
        lab = _bool(labelled, "labelled")
        if lab is not None:
            query["labelled"] = "true" if lab else "false"
        if label is not None:
            query["label"] = _name(label, "label")
        u = _usage(usage)
        if u is not None:
            query["usage"] = u
        if isinstance(page_size, bool) or not isinstance(page_size, numbers.Integral) \
                or not 1 <= page_size <= MAX_PAGE:
            raise ValueError("page_size must be an int from 1 to %d: %r" % (MAX_PAGE, page_size))
        cursor = None
        while True:
            q = dict(query, limit=int(page_size))
            if cursor:
                q["cursor"] = cursor
            page = self._call("GET", "samples", query=q) or {}
            for s in page.get("samples") or []:
                yield s
            nxt = page.get("next_cursor")
            if not nxt or nxt == cursor:
                return
            cursor = nxt

    def list_samples(self, labelled=None, label=None, usage=None, limit=100):
        """A list of at most ``limit`` matching samples (None: all of them), in id order.

        Pages are followed until ``limit`` samples were read or none are
        left. The filters are those of :meth:`iter_samples`.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, numbers.Integral)
                                  or limit < 1):
            raise ValueError("limit must be a positive int or None (all samples): %r" % (limit,))
        size = MAX_PAGE if limit is None else min(int(limit), MAX_PAGE)
        out = []
        for s in self.iter_samples(labelled=labelled, label=label, usage=usage, page_size=size):
            out.append(s)
            if limit is not None and len(out) >= limit:
                break
        return out

    def get_sample(self, sample_id):
        """One sample's dict: ``sample_id``, ``source``, ``usage``, ``annotations``, ``labels``."""
        return self._call("GET", "samples", _id(sample_id, "sample_id")) or {}

    def set_annotations(self, sample_id, annotations, usage=None):
        """Replace a sample's annotations (and, when given, its usage); returns the sample's dict.

        ``annotations`` are manifest annotations, e.g. ``[{"type":
        "modelarts/image_classification", "name": "cat"}]``; an empty list
        removes them all.
        """
        sid = _id(sample_id, "sample_id")
        if isinstance(annotations, dict) or not isinstance(annotations, (list, tuple)):
            raise TypeError("annotations must be a list of dicts like "
                            "{'type': 'modelarts/image_classification', 'name': 'cat'}")
        for i, a in enumerate(annotations):
            if not isinstance(a, dict):
                raise TypeError("annotations[%d] must be a dict" % i)
            if not isinstance(a.get("type"), str) or not a["type"]:
                raise ValueError("annotations[%d]['type'] is missing, e.g. "
                                 "'modelarts/image_classification'" % i)
        body = {"annotations": list(annotations)}
        u = _usage(usage)
        if u is not None:
            body["usage"] = u
        return self._call("PUT", "samples", sid, "annotations", json_body=body) or {}

    def delete_samples(self, ids):
        """Delete the samples with these ids; returns how many were deleted."""
        if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple, set, frozenset)):
            raise TypeError("ids must be a list of sample ids")
        ids = [_id(i, "ids[%d]" % n) for n, i in enumerate(ids)]
        if not ids:
            return 0
        doc = self._call("POST", "samples", "delete", json_body={"sample_ids": ids}) or {}
        return int(doc.get("deleted") or 0)

    # -- versions and exports -----------------------------------------------------

    def list_versions(self):
        """The dataset's versions (dicts: ``version_id``, ``version_name``, ``manifest_path``, …)."""
        return _list_field(self._call("GET", "versions"), "versions")

    def get_version(self, version_id):
        """One version's dict."""
        return self._call("GET", "versions", _id(version_id, "version_id")) or {}

    def create_version(self, version_name=None, description=None,
                       train_evaluate_sample_ratio=None):
        """Snapshot the samples and annotations as a new version; returns its dict.

        The server names versions V001, V002, … and publishes the manifest
        at ``<work_path>/dataset-<id>/annotation/V00n/V00n.manifest``
        (``manifest_path``). ``version_name`` is accepted for ModelArts code
        but not sent: when the server chose another name, a UserWarning
        says so. ``train_evaluate_sample_ratio`` (0 to 1) splits the
        samples into TRAIN and EVAL; without it each keeps its usage.
        """
        if version_name is not None:
            _str(version_name, "version_name")
        body = {}
        if description is not None:
            body["description"] = _str(description, "description")
        if train_evaluate_sample_ratio is not None:
            try:
                ratio = float(train_evaluate_sample_ratio)
            except (TypeError, ValueError):
                raise TypeError("train_evaluate_sample_ratio must be a number from 0 to 1: %r"
                                % (train_evaluate_sample_ratio,)) from None
            if not 0.0 <= ratio <= 1.0:
                raise ValueError("train_evaluate_sample_ratio must be from 0 to 1: %r"
                                 % (train_evaluate_sample_ratio,))
            body["train_evaluate_sample_ratio"] = ratio
        v = self._call("POST", "versions", json_body=body) or {}
        if version_name is not None and v.get("version_name") != version_name:
            warnings.warn("version_name %r is not used: Atelier names versions itself and "
                          "named this one %r" % (version_name, v.get("version_name")),
                          UserWarning, stacklevel=2)
        return v

    def export_dataset(self, version_id, path):
        """Export a version's manifest to the OBS directory ``path``; returns the export task's dict."""
        body = {"version_id": _id(version_id, "version_id"), "export_path": _obs_path(path, "path")}
        return self._call("POST", "exports", json_body=body) or {}

    def list_export_tasks(self):
        """The dataset's export tasks (dicts: ``task_id``, ``version_id``, ``status``, …)."""
        return _list_field(self._call("GET", "exports"), "export_tasks")


def _str(value, param):
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))
    return value
