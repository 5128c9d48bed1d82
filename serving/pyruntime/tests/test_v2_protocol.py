"""The Open Inference Protocol (KServe V2) shapes, checked against the protocol's own examples.

The examples are quoted from the protocol's published text, "Predict Protocol -
Version 2", section "Inference Request Examples"
(https://github.com/kserve/kserve/blob/master/docs/predict-api/v2/required_api.md;
the same text is KServe's "Open Inference Protocol (V2 Inference Protocol)"
page, https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/,
and Triton's protocol documents):

    POST /v2/models/mymodel/infer HTTP/1.1
    {
      "id" : "42",
      "inputs" : [
        { "name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32", "data" : [ 1, 2, 3, 4 ] },
        { "name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL", "data" : [ true ] }
      ],
      "outputs" : [ { "name" : "output0" } ]
    }

    "For the above request the inference server must return the "output0"
    output tensor. Assuming the model returns a [ 3, 2 ] tensor of data type
    FP32 the following response would be returned."

    HTTP/1.1 200 OK
    {
      "id" : "42"
      "outputs" : [
        { "name" : "output0", "shape" : [ 3, 2 ], "datatype" : "FP32",
          "data" : [ 1.0, 1.1, 2.0, 2.1, 3.0, 3.1 ] }
      ]
    }

The published request is inconsistent as written: input1 has shape [3] but
one element, so a server that checks element counts must refuse it; with
three booleans it is valid. (The published response also lacks a comma after
"id"; it is quoted as printed.) The section "Tensor Data" adds that data may
be nested, "data" : [ [ 1, 2 ], [ 4, 5 ] ], or flat, "data" : [ 1, 2, 4, 5 ].
"""

import copy
import json
import os
import shutil
import sys
import tempfile
import unittest

from .runtime import RUNTIME_DIR, Instance, write_files

if RUNTIME_DIR not in sys.path:
    sys.path.insert(0, RUNTIME_DIR)

import serve  # noqa: E402

PUBLISHED_REQUEST = {
    "id": "42",
    "inputs": [
        {"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
        {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [True]},
    ],
    "outputs": [{"name": "output0"}],
}

PUBLISHED_RESPONSE_OUTPUTS = [
    {"name": "output0", "shape": [3, 2], "datatype": "FP32",
     "data": [1.0, 1.1, 2.0, 2.1, 3.0, 3.1]},
]


def valid_request():
    """The published request with input1 holding the three elements its shape says."""
    req = copy.deepcopy(PUBLISHED_REQUEST)
    req["inputs"][1]["data"] = [True, False, True]
    return req


# A model that answers the published output0 and reports what it was given.
ECHO_HANDLER = '''
class Echo:
    def __init__(self, model_name, model_path):
        pass

    def _inference(self, data):
        return {
            "output0": {"datatype": "FP32", "shape": [3, 2],
                        "data": [[1.0, 1.1], [2.0, 2.1], [3.0, 3.1]]},
            "seen_input0": data["input0"],
            "seen_input1": data["input1"],
        }
'''


class ParseRequestTest(unittest.TestCase):
    def test_published_request_is_refused_for_input1s_element_count(self):
        with self.assertRaises(serve.ProtocolError) as cm:
            serve.parse_infer_request(PUBLISHED_REQUEST)
        self.assertEqual(str(cm.exception), "input input1: shape [3] holds 3 elements but data has 1")

    def test_valid_request_maps_to_nested_lists(self):
        data, requested, req_id = serve.parse_infer_request(valid_request())
        self.assertEqual(data, {"input0": [[1, 2], [3, 4]], "input1": [True, False, True]})
        self.assertEqual(requested, ["output0"])
        self.assertEqual(req_id, "42")

    def test_nested_and_flat_data_are_the_same_tensor(self):
        flat = {"inputs": [{"name": "m", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 4, 5]}]}
        nested = {"inputs": [{"name": "m", "shape": [2, 2], "datatype": "INT32",
                              "data": [[1, 2], [4, 5]]}]}
        self.assertEqual(serve.parse_infer_request(flat)[0], {"m": [[1, 2], [4, 5]]})
        self.assertEqual(serve.parse_infer_request(nested)[0], {"m": [[1, 2], [4, 5]]})

    def test_optional_fields(self):
        doc = {"inputs": [{"name": "s", "shape": [], "datatype": "BYTES", "data": ["hi"],
                           "parameters": {"content_type": "str"}}], "parameters": {"a": 1}}
        data, requested, req_id = serve.parse_infer_request(doc)
        self.assertEqual(data, {"s": "hi"})
        self.assertIsNone(requested)
        self.assertIsNone(req_id)

    def test_every_datatype(self):
        ok = {"BOOL": [True], "UINT8": [255], "UINT16": [65535], "UINT32": [4294967295],
              "UINT64": [18446744073709551615], "INT8": [-128], "INT16": [-32768],
              "INT32": [-2147483648], "INT64": [-9223372036854775808], "FP16": [0.5],
              "FP32": [1], "FP64": [-2.5e300], "BYTES": ["x"]}
        self.assertEqual(sorted(ok), sorted(serve.DATATYPES))
        for dt, data in ok.items():
            with self.subTest(dt=dt):
                doc = {"inputs": [{"name": "t", "shape": [1], "datatype": dt, "data": data}]}
                self.assertEqual(serve.parse_infer_request(doc)[0], {"t": data})

    def test_refusals(self):
        t = {"name": "t", "shape": [1], "datatype": "INT32", "data": [1]}
        cases = [
            ([], "must be a JSON object"),
            ({}, "inputs must be a non-empty array"),
            ({"inputs": []}, "inputs must be a non-empty array"),
            ({"inputs": [t], "extra": 1}, "unknown field extra"),
            ({"id": 42, "inputs": [t]}, "id must be a string"),
            ({"inputs": [t, t]}, "input t is given twice"),
            ({"inputs": [dict(t, name="")]}, "inputs[0].name must be a non-empty string"),
            ({"inputs": [dict(t, shape=[-1])]}, "shape must be an array of non-negative integers"),
            ({"inputs": [dict(t, shape=[1.0])]}, "shape must be an array of non-negative integers"),
            ({"inputs": [dict(t, datatype="int32")]}, "datatype must be one of"),
            ({"inputs": [{k: v for k, v in t.items() if k != "data"}]}, "data is missing"),
            ({"inputs": [dict(t, data=[2 ** 31])]}, "out of the range of INT32"),
            ({"inputs": [dict(t, datatype="UINT8", data=[-1])]}, "out of the range of UINT8"),
            ({"inputs": [dict(t, data=[1.5])]}, "INT32 data must be integers"),
            ({"inputs": [dict(t, data=[True])]}, "INT32 data must be integers"),
            ({"inputs": [dict(t, datatype="BOOL", data=[1])]}, "BOOL data must be true or false"),
            ({"inputs": [dict(t, datatype="FP32", data=["1"])]}, "FP32 data must be numbers"),
            ({"inputs": [dict(t, datatype="BYTES", data=[1])]}, "BYTES data must be strings"),
            ({"inputs": [dict(t, parameters=[])]}, "parameters must be an object"),
            ({"inputs": [t], "outputs": [{}]}, "outputs[0] must be an object with a non-empty name"),
            ({"inputs": [t], "outputs": {"name": "x"}}, "outputs must be an array"),
        ]
        for doc, want in cases:
            with self.subTest(want=want):
                with self.assertRaises(serve.ProtocolError) as cm:
                    serve.parse_infer_request(doc)
                self.assertIn(want, str(cm.exception))


class EncodeOutputsTest(unittest.TestCase):
    def test_published_response_output(self):
        result = {"output0": {"datatype": "FP32", "shape": [3, 2],
                              "data": [1.0, 1.1, 2.0, 2.1, 3.0, 3.1]}, "other": [1]}
        self.assertEqual(serve.encode_outputs(result, ["output0"]), PUBLISHED_RESPONSE_OUTPUTS)

    def test_inferred_datatypes_and_shapes(self):
        result = {"b": True, "i": [[1, 2, 3], [4, 5, 6]], "f": [1, 2.5], "s": ["a", "b"],
                  "e": [], "t": (1.0,)}
        self.assertEqual(serve.encode_outputs(result, None), [
            {"name": "b", "datatype": "BOOL", "shape": [1], "data": [True]},
            {"name": "i", "datatype": "INT64", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]},
            {"name": "f", "datatype": "FP64", "shape": [2], "data": [1, 2.5]},
            {"name": "s", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]},
            {"name": "e", "datatype": "FP64", "shape": [0], "data": []},
            {"name": "t", "datatype": "FP64", "shape": [1], "data": [1.0]},
        ])

    def test_a_result_that_is_not_a_dict_is_output0(self):
        self.assertEqual(serve.encode_outputs([[1, 2]], None),
                         [{"name": "output0", "datatype": "INT64", "shape": [1, 2], "data": [1, 2]}])

    def test_bad_results(self):
        cases = [
            ({"x": [[1, 2], [3]]}, serve.OutputError, "ragged"),
            ({"x": [1, "a"]}, serve.OutputError, "mixes"),
            ({"x": [None]}, serve.OutputError, "not a tensor element"),
            ({"x": float("inf")}, serve.OutputError, "JSON cannot carry"),
            ({"x": {"datatype": "FP32", "shape": [2], "data": [1.0]}}, serve.OutputError,
             "holds 2 elements"),
            ({"x": {"datatype": "INT8", "data": [300]}}, serve.OutputError, "out of the range"),
            ({"x": 1}, serve.ProtocolError, "no output y"),
        ]
        for result, exc, want in cases:
            with self.subTest(want=want):
                with self.assertRaises(exc) as cm:
                    serve.encode_outputs(result, ["y"] if exc is serve.ProtocolError else None)
                self.assertIn(want, str(cm.exception))


class MetadataTest(unittest.TestCase):
    def test_from_apis_schema(self):
        config = {"apis": [{"request": {"data": {"type": "object", "properties": {
            "images": {"type": "file"}, "n": {"type": "integer"},
            "m": {"type": "array", "items": {"type": "array", "items": {"type": "boolean"}}}}}},
            "response": {"data": {"type": "object", "properties": {"s": {"type": "string"}}}}}]}
        self.assertEqual(serve.tensors_metadata(config), (
            [{"name": "images", "datatype": "BYTES", "shape": [1]},
             {"name": "n", "datatype": "INT64", "shape": [1]},
             {"name": "m", "datatype": "BOOL", "shape": [-1, -1]}],
            [{"name": "s", "datatype": "BYTES", "shape": [1]}]))

    def test_from_input_and_output_params(self):
        config = {"input_params": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}, "junk"],
                  "output_params": [{"name": "y"}]}
        self.assertEqual(serve.tensors_metadata(config), (
            [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
            [{"name": "y", "datatype": "BYTES", "shape": [-1]}]))
        self.assertEqual(serve.tensors_metadata({}), ([], []))


class RoundTripTest(unittest.TestCase):
    """The published exchange over HTTP against a running serve.py."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pyruntime-v2-")
        write_files(cls.dir, {"customize_service.py": ECHO_HANDLER})
        cls.inst = Instance(cls.dir, {"ATELIER_SERVICE_NAME": "mymodel"}).start()

    @classmethod
    def tearDownClass(cls):
        try:
            rc, stderr = cls.inst.stop()
            if rc != 0:
                raise AssertionError("serve.py exited with %s; stderr:\n%s" % (rc, stderr))
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def test_published_request_is_refused_with_the_error_object(self):
        status, doc = self.inst.json("POST", "/v2/models/mymodel/infer", PUBLISHED_REQUEST)
        self.assertEqual(status, 400)
        self.assertEqual(doc, {"error": "input input1: shape [3] holds 3 elements but data has 1"})

    def test_published_response_for_the_valid_request(self):
        status, headers, body = self.inst.request(
            "POST", "/v2/models/mymodel/infer", valid_request())
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(int(headers["Content-Length"]), len(body))
        doc = json.loads(body)
        # The published response plus model_name, which the schema requires
        # ($inference_response); no model_version: this instance has none.
        self.assertEqual(doc, {"model_name": "mymodel", "id": "42",
                               "outputs": PUBLISHED_RESPONSE_OUTPUTS})

    def test_the_handler_sees_the_tensors_in_their_shapes(self):
        req = valid_request()
        del req["outputs"]
        req["inputs"][0]["data"] = [[1, 2], [3, 4]]  # the nested form
        status, doc = self.inst.json("POST", "/v2/models/mymodel/infer", req)
        self.assertEqual(status, 200, doc)
        by_name = {o["name"]: o for o in doc["outputs"]}
        self.assertEqual(list(by_name), ["output0", "seen_input0", "seen_input1"])
        self.assertEqual(by_name["seen_input0"], {"name": "seen_input0", "datatype": "INT64",
                                                  "shape": [2, 2], "data": [1, 2, 3, 4]})
        self.assertEqual(by_name["seen_input1"], {"name": "seen_input1", "datatype": "BOOL",
                                                  "shape": [3], "data": [True, False, True]})

    def test_metadata_without_apis_has_empty_tensor_lists(self):
        status, doc = self.inst.json("GET", "/v2/models/mymodel")
        self.assertEqual(status, 200)
        self.assertEqual(doc, {"name": "mymodel", "versions": [], "platform": "atelier-python",
                               "inputs": [], "outputs": []})


if __name__ == "__main__":
    unittest.main()
