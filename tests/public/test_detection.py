"""Public checks of the detection assignment: run them on your laptop while you work.

    pytest tests/public/test_detection.py            # checks your code in student/detection
    pytest tests/public/test_detection.py -k tal     # only the checks whose id contains "tal"

Every check exercises one component on small inputs (a few seconds in all on a CPU) and says what
is wrong when it fails: shapes first, then the largest error, where it is, and what was expected.
Components you have not started yet are reported as skipped ("not attempted"), not as failures.
The grader runs these checks plus hidden ones (other inputs and edge cases) on your submission.
The mAP challenge is scored by the grader only (the test split's annotations stay hidden): measure
your mAP on the validation split (notebooks/detection_homework.ipynb).

COURSE_IMPL=<package> grades another package holding a ``detection`` subpackage.
"""

from grader.public_tests import public_check_test

test_public_check = public_check_test("detection")
