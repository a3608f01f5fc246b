"""The leads module's pages: ``leads`` (lists, detail, forms, follow-ups, batch actions),
``pool`` (the lead pool, 线索池, and its settings), ``settings`` (campaigns, assignment rules),
``convert`` (conversion, statistics), ``imports`` (import and export)."""
