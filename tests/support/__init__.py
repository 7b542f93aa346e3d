"""Helpers shared by more than one test module; shared fixtures live in tests/conftest.py, except ``acct``/``spy``
(fix_account) and ``hub``/``org`` (lambda_hub), whose names other modules use for fixtures of their own: the two
modules that use each bind them explicitly.

No test module imports from another ``test_*.py`` (or from conftest.py): what two modules share is here.
tests/test_layout.py checks it.

* ``sandbox``  the in-process sandbox account (moto + our extensions) and a one-call scan
* ``shapes``   every parsed boto3 response checked against botocore's output shape
* ``journeys`` the CLI and the sandbox server as separate processes
* ``faults``   botocore ``before-send`` fault injection that wins over moto
* ``org``      a moto organisation of three accounts in two regions (the estate)
* ``fix_account`` the broken account of the fix-safety tests, its write spy and CLI drivers
* ``lambda_hub`` the Lambda hub (bucket, topic, queue) and an organisation behind it
* ``html_documents``   findings documents built by hand for the HTML report (and the browser test)
* ``format_documents`` findings documents built by hand for SARIF, JUnit, OCSF and ASFF
* ``alarm``    a SIGALRM deadline that turns a hang into a test failure
"""
