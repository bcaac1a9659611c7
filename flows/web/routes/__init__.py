"""The web app's routes, one APIRouter per page family (flows.web.app includes them all)."""

from flows.web.routes import auth, conflicts, history, records, screening, search

ROUTERS = (auth.router, screening.router, conflicts.router, history.router, search.router, records.router)
