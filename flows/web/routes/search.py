"""Search a claim's studies by words of their title or abstract."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from flows.web import data
from flows.web.deps import ClaimOf, SignedIn, WebApp

MAX_QUERY = 200
router = APIRouter()


@router.get("/claims/{claim_id}/search", response_class=HTMLResponse)
def search(request: Request, session: SignedIn, claim: ClaimOf, app: WebApp, q: str = "") -> Response:
    q = q[:MAX_QUERY]
    with data.StoreReader(app.config) as store:
        hits = store.search(claim.id, q)
    return app.render(request, "search.html", claim=claim, q=q, hits=hits)
