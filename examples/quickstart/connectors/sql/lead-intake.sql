-- Lead Intake: one row per webhook call; keep the latest submission per email.
SELECT
    lowerUTF8(trimBoth(JSONExtractString(payload, 'email')))                  AS contact_email,
    nullIf(replaceRegexpAll(JSONExtractString(payload, 'phone'), '[^0-9+]', ''), '') AS contact_phone,
    JSONExtractString(payload, 'source')                                      AS lead_source,
    fromUnixTimestamp64Milli(JSONExtractInt(payload, 'submitted_at'))         AS submitted_at
FROM webhook_events
WHERE JSONHas(payload, 'email')
ORDER BY submitted_at DESC
LIMIT 1 BY contact_email
