"""Input schemas from signatures and type hints, and the deploy-time input check."""

import typing
import unittest
from typing import Any, Literal, Optional, Union

from kitaru import InvalidArgumentError, flow
from kitaru.flow import _check_inputs, input_schema


class Custom:
    pass


@flow
def typed(
    name: str,
    count: int = 1,
    ratio: float = 0.5,
    flag: bool = False,
    items: Optional[list[str]] = None,
    meta: Optional[dict] = None,
    anything=None,
    custom: Custom = None,
) -> dict:
    return {}


class InputSchemaTest(unittest.TestCase):
    def test_simple_types_defaults_and_required(self):
        self.assertEqual(
            input_schema(typed),
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "count": {"type": "integer", "default": 1},
                    "ratio": {"type": "number", "default": 0.5},
                    "flag": {"type": "boolean", "default": False},
                    "items": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}], "default": None},
                    "meta": {"type": ["object", "null"], "default": None},
                    "anything": {"default": None},
                    "custom": {"default": None},
                },
                "required": ["name"],
                "additionalProperties": False,
            },
        )
        self.assertEqual(typed.input_schema(), input_schema(typed.func))

    def test_optional_without_default_is_not_required(self):
        def f(a: Optional[int], b: "int | None", c: Union[str, None], d: int | None, e: int):
            pass

        s = input_schema(f)
        self.assertEqual(s["required"], ["e"])
        self.assertEqual(s["properties"]["a"], {"type": ["integer", "null"]})
        self.assertEqual(s["properties"]["d"], {"type": ["integer", "null"]})

    def test_containers_literals_and_unknowns(self):
        def f(
            a: list,
            b: dict[str, int],
            c: tuple[int, str],
            d: tuple[int, ...],
            e: Literal["x", "y"],
            f: typing.List[int],
            g: typing.Mapping[str, Any],
            h: Any,
            i: bytes,
            j: set,
            k: typing.Annotated[int, "meta"],
            m: Union[int, Custom],
        ):
            pass

        p = input_schema(f)["properties"]
        self.assertEqual(p["a"], {"type": "array"})
        self.assertEqual(p["b"], {"type": "object"})
        self.assertEqual(
            p["c"],
            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2, "maxItems": 2},
        )
        self.assertEqual(p["d"], {"type": "array", "items": {"type": "integer"}})
        self.assertEqual(p["e"], {"enum": ["x", "y"]})
        self.assertEqual(p["f"], {"type": "array", "items": {"type": "integer"}})
        self.assertEqual(p["g"], {"type": "object"})
        self.assertEqual(p["h"], {})
        self.assertEqual(p["i"], {})
        self.assertEqual(p["j"], {"type": "array"})
        self.assertEqual(p["k"], {"type": "integer"})
        self.assertEqual(p["m"], {})  # a union with an unknown member takes anything

    def test_kwargs_allow_other_keys_and_positional_only_are_skipped(self):
        def f(a: int, /, b: str, *args, c: bool = True, **kwargs):
            pass

        s = input_schema(f)
        self.assertEqual(list(s["properties"]), ["b", "c"])
        self.assertEqual(s["required"], ["b"])
        self.assertIs(s["additionalProperties"], True)

    def test_unresolvable_forward_references_fall_back(self):
        def f(a: "int", b: "Missing", c: "Optional[Missing]", d: "list[Missing]"):  # noqa: F821
            pass

        s = input_schema(f)
        self.assertEqual(s["properties"], {"a": {"type": "integer"}, "b": {}, "c": {}, "d": {"type": "array"}})
        self.assertEqual(s["required"], ["a", "b", "d"])

    def test_no_parameters(self):
        self.assertEqual(input_schema(lambda: None), {"type": "object", "properties": {}, "additionalProperties": False})


class CheckInputsTest(unittest.TestCase):
    def test_accepts_matching_inputs(self):
        _check_inputs("typed", {"name": "x", "count": 2, "ratio": 1, "items": None, "custom": {"a": 1}}, input_schema(typed))

    def test_unknown_key_names_it_and_the_parameters(self):
        with self.assertRaises(InvalidArgumentError) as cm:
            _check_inputs("typed", {"nmae": "x"}, input_schema(typed))
        self.assertIn("'nmae'", str(cm.exception))
        self.assertIn("name, count", str(cm.exception))
        self.assertEqual(cm.exception.details, {"key": "nmae"})

    def test_wrong_type_and_non_json(self):
        with self.assertRaisesRegex(InvalidArgumentError, "'count'.*integer"):
            _check_inputs("typed", {"count": "three"}, input_schema(typed))
        with self.assertRaisesRegex(InvalidArgumentError, "'flag'.*boolean"):
            _check_inputs("typed", {"flag": 1}, input_schema(typed))
        with self.assertRaisesRegex(InvalidArgumentError, "not JSON"):
            _check_inputs("typed", {"anything": object()}, input_schema(typed))


if __name__ == "__main__":
    unittest.main()
