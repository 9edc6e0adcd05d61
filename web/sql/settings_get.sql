SELECT blocked_domains, idle_threshold_s, email_reports FROM user_settings WHERE user_id = %(user_id)s
