-- Orders Sync: normalise uploaded order rows and attach a readable status.
WITH status_map AS (
    SELECT code, label
    FROM reference_data
)
SELECT
    toUInt64(o.order_id)                                    AS order_id,
    lowerUTF8(trimBoth(o.email))                            AS contact_email,
    parseDateTime64BestEffort(o.ordered_at, 3, 'UTC')       AS ordered_at,
    toDecimal64(o.total, 2)                                 AS order_total,
    upperUTF8(o.currency)                                   AS currency,
    coalesce(s.label, 'Unknown')                            AS status
FROM source_rows AS o
LEFT JOIN status_map AS s ON s.code = o.status_code
WHERE isNotNull(o.order_id)
  AND match(o.email, '^[^@]+@[^@]+$')
