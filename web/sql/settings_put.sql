INSERT INTO user_settings (user_id, blocked_domains, idle_threshold_s, email_reports, updated_at)
VALUES (%(user_id)s, %(blocked_domains)s, %(idle_threshold_s)s, %(email_reports)s, now())
ON CONFLICT (user_id) DO UPDATE SET
    blocked_domains = EXCLUDED.blocked_domains,
    idle_threshold_s = EXCLUDED.idle_threshold_s,
    email_reports = EXCLUDED.email_reports,
    updated_at = now()
