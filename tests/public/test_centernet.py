"""Public checks of the centernet assignment: run them on your laptop while you work.

    pytest tests/public/test_centernet.py            # checks your code in student/centernet
    pytest tests/public/test_centernet.py -k head    # only the checks whose id contains "head"

Every check exercises one component on small inputs (seconds on a CPU; the training check runs 40
steps on TinyCoco, about half a minute) and says what is wrong when it fails: shapes first, then the
largest error, where it is, and what was expected.
Components you have not started yet are reported as skipped ("not attempted"), not as failures.
The grader runs these checks plus hidden ones (other inputs and edge cases) on your submission.

COURSE_IMPL=<package> grades another package holding a ``centernet`` subpackage.
"""

from grader.public_tests import public_check_test

test_public_check = public_check_test("centernet")
