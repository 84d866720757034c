"""RFC 9457 problem details for every error the API returns, titled in the language asked for.

Domain refusals keep their code, status and catalogue message; HTTP-level errors (401, 404, 405, 428, 429,
malformed JSON, validation) get catalogue titles too, so a person reads Vietnamese first.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import DomainError, PossibleDuplicate
from engine.i18n import pick_language, register, translate

PROBLEM_MEDIA_TYPE = "application/problem+json"

register({
    "title.http_400": {"vi": "Yêu cầu không hợp lệ", "en": "Bad request"},
    "title.http_401": {"vi": "Chưa đăng nhập", "en": "Not signed in"},
    "title.http_403": {"vi": "Không có quyền", "en": "Forbidden"},
    "title.http_404": {"vi": "Không tìm thấy", "en": "Not found"},
    "title.http_405": {"vi": "Phương thức không được hỗ trợ", "en": "Method not allowed"},
    "title.http_409": {"vi": "Xung đột dữ liệu", "en": "Conflict"},
    "title.http_415": {"vi": "Kiểu nội dung không được hỗ trợ", "en": "Unsupported media type"},
    "title.http_422": {"vi": "Dữ liệu không hợp lệ", "en": "Invalid input"},
    "title.http_428": {"vi": "Thiếu phiên bản hồ sơ", "en": "Precondition required"},
    "title.http_429": {"vi": "Quá nhiều lần thử", "en": "Too many attempts"},
    "title.http_500": {"vi": "Lỗi hệ thống", "en": "Internal error"},
    "title.http_503": {"vi": "Hệ thống tạm thời không sẵn sàng", "en": "Service unavailable"},
    "api.malformed_json": {
        "vi": "Nội dung gửi lên không phải JSON hợp lệ ({position}).",
        "en": "The request body is not valid JSON ({position}).",
    },
    "api.validation": {
        "vi": "Dữ liệu gửi lên không hợp lệ: {fields}.",
        "en": "The request data is invalid: {fields}.",
    },
    "api.not_found": {"vi": "Không có tài nguyên này.", "en": "There is no such resource."},
    "api.method_not_allowed": {
        "vi": "Phương thức {method} không dùng được cho địa chỉ này.",
        "en": "Method {method} is not allowed here.",
    },
    "api.not_authenticated": {
        "vi": "Cần đăng nhập (mã truy cập Bearer hợp lệ).",
        "en": "Sign-in required (a valid Bearer access token).",
    },
    "api.bad_credentials": {
        "vi": "Tên đăng nhập hoặc mật khẩu không đúng.",
        "en": "Wrong login or password.",
    },
    "api.too_many_attempts": {
        "vi": "Đăng nhập sai quá nhiều lần. Hãy thử lại sau {seconds} giây.",
        "en": "Too many failed sign-ins. Try again in {seconds} seconds.",
    },
    "api.if_match_required": {
        "vi": "Cần gửi tiêu đề If-Match với ETag (phiên bản) của hồ sơ đã xem.",
        "en": "Send an If-Match header with the ETag (version) of the record you saw.",
    },
    "api.if_match_invalid": {
        "vi": "Tiêu đề If-Match không hợp lệ: {value}.",
        "en": "Invalid If-Match header: {value}.",
    },
    "api.idempotency_mismatch": {
        "vi": "Khóa Idempotency-Key này đã được dùng cho một yêu cầu khác.",
        "en": "This Idempotency-Key was already used for a different request.",
    },
    "api.idempotency_in_flight": {
        "vi": "Một yêu cầu khác với cùng Idempotency-Key vừa được xử lý; hãy gửi lại để nhận kết quả.",
        "en": "Another request with the same Idempotency-Key was processed at the same time; resend to get its result.",
    },
    "api.internal": {"vi": "Đã xảy ra lỗi hệ thống.", "en": "An internal error occurred."},
    "api.database_unavailable": {
        "vi": "Không kết nối được cơ sở dữ liệu.",
        "en": "The database cannot be reached.",
    },
    "api.unstorable_value": {
        "vi": "Dữ liệu chứa giá trị không lưu được (ví dụ ký tự NUL hoặc số quá lớn).",
        "en": "The request holds a value that cannot be stored (for example a NUL character or a number too large).",
    },
    "api.forbidden_role": {
        "vi": "Vai trò của bạn không dùng được chức năng này.",
        "en": "Your role cannot use this function.",
    },
})


def problem(
    request: Request, status: int, *, code: str, title: str, detail: str, headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:ketnoi:problem:{code}", "title": title, "status": status, "detail": detail,
        "instance": request.url.path, "code": code,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def language_of(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"))


def http_problem(
    request: Request, status: int, code: str, headers: dict[str, str] | None = None, **params: Any
) -> JSONResponse:
    lang = language_of(request)
    return problem(
        request, status, code=code.removeprefix("api."), title=translate(f"title.http_{status}", lang),
        detail=translate(code, lang, **params), headers=headers,
    )


class ApiProblem(Exception):
    """An HTTP-level refusal raised by the API layer itself (not a domain rule)."""

    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None, **params: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.headers = headers
        self.params = params


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    lang = language_of(request)
    extra: dict[str, Any] = {}
    if isinstance(exc, PossibleDuplicate):
        extra["candidates"] = exc.candidates
    return problem(request, exc.status, code=exc.code, title=exc.title(lang), detail=exc.message(lang), **extra)


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return http_problem(request, exc.status, exc.code, headers=exc.headers, **exc.params)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:] or parts
    return ".".join(parts)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    json_errors = [e for e in errors if e.get("type") == "json_invalid"]
    if json_errors:
        position = (json_errors[0].get("ctx") or {}).get("error", "?")
        return http_problem(request, 400, "api.malformed_json", position=position)
    fields = [
        {"field": _field_name(e.get("loc", ())), "location": str((e.get("loc") or ["body"])[0]),
         "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]
    lang = language_of(request)
    names = ", ".join(sorted({f["field"] for f in fields})) or "?"
    return problem(
        request, 422, code="validation", title=translate("title.http_422", lang),
        detail=translate("api.validation", lang, fields=names), errors=fields,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    status = exc.status_code
    if status == 404:
        return http_problem(request, 404, "api.not_found", headers=headers)
    if status == 405:
        return http_problem(request, 405, "api.method_not_allowed", headers=headers, method=request.method)
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
        return http_problem(request, 401, "api.not_authenticated", headers=headers)
    lang = language_of(request)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, ensure_ascii=False)
    return problem(request, status, code=f"http_{status}", title=translate(f"title.http_{status}", lang),
                   detail=detail, headers=headers)


async def _unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value the schema let through (NUL in text, an out-of-range number): bad input,
    not a server fault. The request's transaction has rolled back, so nothing changed."""
    return http_problem(request, 422, "api.unstorable_value")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return http_problem(request, 500, "api.internal")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(Exception, _unexpected)
