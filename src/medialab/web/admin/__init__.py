"""The operators' dashboard, GET /admin (served only when ADMIN_WEB_TOKEN is set): the business's
figures of a period (medialab.admin.dashboard), an account found by Telegram id, and the ledger
as CSV. Server-rendered HTML (Jinja2 through Litestar's templating) and an inline SVG chart."""
