"""FastAPI dependencies of the routes: the project's `Web`, the session, CSRF, roles, claims, forms.

Routes list them as parameters in the order the checks must run (FastAPI resolves them in that
order): sign-in (401) before CSRF (403) before the claim (404) before the role (403).
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Form, Header, Request

from flows.ids import is_pmid
from flows.project.claims import Claim
from flows.web import data
from flows.web.auth import Session, csrf_ok
from flows.web.grading_view import GradeForm
from flows.web.pages import HTTPProblem, SignInFirst, Web
from flows.web.signin_limits import SignInLimits

OptionalForm = Annotated[str | None, Form()]


def web(request: Request) -> Web:
    return cast(Web, request.app.state.web)


WebApp = Annotated[Web, Depends(web)]


async def signin_limits(request: Request) -> SignInLimits:
    return cast(SignInLimits, request.app.state.signin_limits)


Limits = Annotated[SignInLimits, Depends(signin_limits)]


async def signed_in(request: Request) -> Session:
    """The signed-in curator's session (the middleware read the cookie), else 401."""
    session: Session | None = request.state.session
    if session is None:
        raise HTTPProblem(401, "Please sign in.")
    return session


async def signed_in_page(request: Request) -> Session:
    """Like `signed_in`, for pages a visitor may open from a bookmark: redirected to sign in."""
    session: Session | None = request.state.session
    if session is None:
        raise SignInFirst
    return session


SignedIn = Annotated[Session, Depends(signed_in)]
SignedInPage = Annotated[Session, Depends(signed_in_page)]


async def csrf_checked(
    session: SignedIn,
    csrf_token: OptionalForm = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Session:
    """A signed-in curator whose request carries the session's CSRF token (htmx header or form field)."""
    if not csrf_ok(session, x_csrf_token or csrf_token):
        raise HTTPProblem(403, "This form has expired or did not come from this app; reload the page.")
    return session


Checked = Annotated[Session, Depends(csrf_checked)]


async def is_htmx(hx_request: Annotated[str | None, Header()] = None) -> bool:
    return hx_request == "true"


Htmx = Annotated[bool, Depends(is_htmx)]


async def claim_of(claim_id: str, app: WebApp) -> Claim:
    for claim in app.config.project.claims:
        if claim.id == claim_id:
            return claim
    raise HTTPProblem(404, f"No claim {claim_id!r} in project {app.config.project.name}.")


ClaimOf = Annotated[Claim, Depends(claim_of)]


def role(app: Web, curator: str) -> str:
    found = data.curators(app.config).get(curator)
    if found is None:
        raise HTTPProblem(403, f"{curator!r} is no longer declared in curators.yaml.")
    return found.role


def adjudicator(session: SignedIn, app: WebApp) -> Session:
    if role(app, session.curator) != "adjudicator":
        raise HTTPProblem(403, "Only adjudicators resolve conflicts.")
    return session


Adjudicator = Annotated[Session, Depends(adjudicator)]


def study_of(store: data.StoreReader, claim: Claim, pmid: str) -> str:
    """`pmid` when it is one of the claim's studies, else 404 (it is part of the URL)."""
    if not is_pmid(pmid) or pmid not in store.claim_pmids(claim.id):
        raise HTTPProblem(404, f"PMID {pmid!r} is not among claim {claim.id}'s studies.")
    return pmid


async def grade_form(
    relevance: OptionalForm = None,
    level: OptionalForm = None,
    direction: OptionalForm = None,
    exclude_reason: OptionalForm = None,
    risk_of_bias: OptionalForm = None,
    population: OptionalForm = None,
    quote: OptionalForm = None,
    note: OptionalForm = None,
    bias_domain: OptionalForm = None,
    exposure: OptionalForm = None,
    indirectness: OptionalForm = None,
    indirect_reason: OptionalForm = None,
    outcome: OptionalForm = None,
    outcome_kind: OptionalForm = None,
    save_key: OptionalForm = None,
) -> GradeForm:
    """The grade fields checked against the ladder (an error message, not an exception: the page
    shows it). The curator is always the signed-in one: a `curator` field is not read."""
    fields = {
        "relevance": relevance, "level": level, "direction": direction, "exclude_reason": exclude_reason,
        "risk_of_bias": risk_of_bias, "population": population, "quote": quote, "note": note,
        "bias_domain": bias_domain, "exposure": exposure, "indirectness": indirectness,
        "indirect_reason": indirect_reason, "outcome": outcome, "outcome_kind": outcome_kind,
    }  # fmt: skip
    return GradeForm.parse({k: v for k, v in fields.items() if v is not None}, key=save_key or None)


Grade = Annotated[GradeForm, Depends(grade_form)]
