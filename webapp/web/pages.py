"""The home page."""

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from webapp.deps import VisitorDep, protect_form
from webapp.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(protect_form)])


@router.get("/")
def home(request: Request, visitor: VisitorDep) -> Response:
    return render(request, "home.html")
