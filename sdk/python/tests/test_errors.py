"""What ExecutionFailed shows: the traceback that starts at the user's code in
str() (what an uncaught exception prints), and both tracebacks as attributes.
No server needed."""

import unittest

from kitaru import Execution, ExecutionFailed

USER_TB = (
    "Traceback (most recent call last):\n"
    '  File "flows/research.py", line 4, in research_agent\n'
    '    raise ValueError("topic is empty")\n'
    "ValueError: topic is empty\n"
)
RUNNER_TB = (
    "Traceback (most recent call last):\n"
    '  File "/var/task/runner.py", line 812, in call_flow\n'
    "    return fn(**inputs)\n" + USER_TB.split("\n", 1)[1]
)


def failed(error):
    return Execution(exec_id="ex_1", flow="research_agent", version=3, status="failed", error=error)


class ExecutionFailedTest(unittest.TestCase):
    def test_str_has_the_error_line_then_the_user_traceback_indented(self):
        e = ExecutionFailed(failed({"type": "ValueError", "message": "topic is empty", "traceback": USER_TB,
                                    "details": {"runner_traceback": RUNNER_TB}}))
        lines = str(e).split("\n")
        self.assertEqual(lines[0], "execution ex_1 of research_agent version 3 failed: ValueError: topic is empty")
        self.assertEqual(lines[1:], ["  " + line for line in USER_TB.rstrip("\n").split("\n")])
        self.assertNotIn("runner.py", str(e), "str() shows the user's traceback, not the runner's")

    def test_the_tracebacks_are_attributes(self):
        e = ExecutionFailed(failed({"type": "ValueError", "message": "topic is empty", "traceback": USER_TB,
                                    "details": {"runner_traceback": RUNNER_TB}}))
        self.assertEqual((e.type, e.message, e.traceback, e.runner_traceback),
                         ("ValueError", "topic is empty", USER_TB, RUNNER_TB))

    def test_without_a_user_traceback_str_shows_the_runners(self):
        e = ExecutionFailed(failed({"type": "Runner.Crashed", "message": "exit 137",
                                    "details": {"runner_traceback": RUNNER_TB}}))
        self.assertEqual(e.traceback, "")
        self.assertIn("  " + RUNNER_TB.split("\n")[1], str(e))

    def test_without_any_traceback_str_is_the_error_line(self):
        e = ExecutionFailed(failed({"type": "States.Timeout", "message": "the run took longer than 900s"}))
        self.assertEqual(str(e), "execution ex_1 of research_agent version 3 failed: States.Timeout: the run took longer than 900s")
        self.assertEqual((e.traceback, e.runner_traceback), ("", ""))


if __name__ == "__main__":
    unittest.main()
