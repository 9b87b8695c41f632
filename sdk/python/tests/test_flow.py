"""Tests of the @flow decorator: python3 -m unittest discover -s sdk/python -p 'test_*.py'."""

import inspect
import unittest

import kitaru
from kitaru import Flow, flow, is_flow


@flow
def research_agent(topic: str) -> str:
    """Research a topic."""
    return f"research notes on {topic}"


@flow(name="renamed", retries=3)
def with_options(a: int, b: int = 2) -> int:
    return a + b


@flow()
def empty_call() -> str:
    return "ok"


class FlowDecoratorTest(unittest.TestCase):
    def test_bare_decorator_returns_a_flow_that_runs_locally(self):
        self.assertIsInstance(research_agent, Flow)
        self.assertEqual(research_agent(topic="x"), "research notes on x")
        self.assertEqual(research_agent("y"), "research notes on y")

    def test_flow_keeps_the_function_metadata(self):
        self.assertEqual(research_agent.__name__, "research_agent")
        self.assertEqual(research_agent.__doc__, "Research a topic.")
        self.assertEqual(research_agent.__module__, __name__)
        self.assertTrue(callable(research_agent.__wrapped__))
        self.assertIs(research_agent.__wrapped__, research_agent.func)
        self.assertEqual(list(inspect.signature(research_agent).parameters), ["topic"])

    def test_name_defaults_to_the_function_name(self):
        self.assertEqual(research_agent.name, "research_agent")
        self.assertEqual(empty_call.name, "empty_call")
        self.assertEqual(empty_call(), "ok")

    def test_decorator_with_options_keeps_name_and_options(self):
        self.assertIsInstance(with_options, Flow)
        self.assertEqual(with_options.name, "renamed")
        self.assertEqual(with_options.__name__, "with_options")
        self.assertEqual(with_options.options, {"retries": 3})
        self.assertEqual(with_options(1), 3)
        self.assertEqual(with_options(a=1, b=5), 6)

    def test_func_is_the_undecorated_function(self):
        self.assertFalse(isinstance(research_agent.func, Flow))
        self.assertEqual(research_agent.func("z"), "research notes on z")

    def test_exceptions_from_the_function_propagate(self):
        @flow
        def failing():
            raise ValueError("boom")

        with self.assertRaisesRegex(ValueError, "boom"):
            failing()

    def test_decorating_a_non_callable_is_refused(self):
        with self.assertRaises(TypeError):
            flow(42)
        with self.assertRaises(TypeError):
            flow(name="x")(42)

    def test_empty_name_is_refused(self):
        with self.assertRaises(ValueError):
            flow(name="")(lambda: None)

    def test_is_flow_recognises_flows_only(self):
        self.assertTrue(is_flow(research_agent))
        self.assertFalse(is_flow(research_agent.func))
        self.assertFalse(is_flow(Flow))
        self.assertFalse(is_flow(None))

    def test_package_exports(self):
        self.assertIs(kitaru.flow, flow)
        self.assertIsInstance(kitaru.__version__, str)
        for name in ["Flow", "__version__", "flow", "is_flow", "KitaruClient", "Deployment", "Handle"]:
            self.assertIn(name, kitaru.__all__)
        for name in kitaru.__all__:
            self.assertTrue(hasattr(kitaru, name), name)


if __name__ == "__main__":
    unittest.main()
