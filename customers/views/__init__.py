"""The customers module's pages: ``customers`` (customers, contacts, follow-ups, files,
merge, saved searches), ``pool`` (the public pool, 公海), ``imports`` (导入客户)."""
