"""The Prefect flows and what composes them: refresh, the living run, status, the demo, locks and global
pace.

Prefect reads its settings when it is first imported, and every module that imports it lives here: so
the package sets them first (offline, quiet, state under the data folder), for the CLI and for a
notebook that imports a flow directly alike.
"""

from flows.config import quiet_prefect_environment

quiet_prefect_environment()
