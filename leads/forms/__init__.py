"""The leads module's forms: ``leads`` (lead, batch, import), ``convert`` (conversion,
statistics), ``settings`` (campaigns, assignment rules)."""
