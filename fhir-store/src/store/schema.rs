// @generated automatically by Diesel CLI.
// Both backends share this schema: the migrations in `migrations/sqlite` and
// `migrations/postgres` create the same columns with the same diesel types.

diesel::table! {
    resource_versions (seq) {
        seq -> BigInt,
        resource_type -> Text,
        resource_id -> Text,
        version -> Integer,
        last_updated -> Text,
        deleted -> Bool,
        method -> Text,
        body -> Nullable<Binary>,
    }
}

diesel::table! {
    resources (resource_type, resource_id) {
        resource_type -> Text,
        resource_id -> Text,
        version -> Integer,
        last_updated -> Text,
        deleted -> Bool,
    }
}

diesel::allow_tables_to_appear_in_same_query!(resource_versions, resources,);

// Audit records not sealed yet, and the chain head (migration
// `…_audit_sealing`; see store/audit.rs).
diesel::table! {
    audit_pending (id) {
        id -> BigInt,
        resource_id -> Text,
        mac -> Text,
        recorded -> Text,
    }
}

diesel::table! {
    audit_chain_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

// The search index tables (migration `…_search_index`). They have no
// primary key in SQL (a resource has many rows per parameter); diesel's
// `table!` needs one, so the leading columns stand in. Nothing here looks
// rows up by it.
diesel::table! {
    idx_string (resource_type, resource_id, param, grp, normalized) {
        resource_type -> Text,
        resource_id -> Text,
        param -> Text,
        grp -> Integer,
        normalized -> Text,
        exact -> Text,
    }
}

diesel::table! {
    idx_token (resource_type, resource_id, param, grp) {
        resource_type -> Text,
        resource_id -> Text,
        param -> Text,
        grp -> Integer,
        system -> Nullable<Text>,
        code -> Nullable<Text>,
        text -> Nullable<Text>,
        type_system -> Nullable<Text>,
        type_code -> Nullable<Text>,
    }
}

diesel::table! {
    idx_reference (resource_type, resource_id, param, grp) {
        resource_type -> Text,
        resource_id -> Text,
        param -> Text,
        grp -> Integer,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        target_version -> Nullable<Text>,
        url -> Nullable<Text>,
        url_version -> Nullable<Text>,
        identifier_system -> Nullable<Text>,
        identifier_value -> Nullable<Text>,
    }
}

diesel::table! {
    idx_date (resource_type, resource_id, param, grp, lo) {
        resource_type -> Text,
        resource_id -> Text,
        param -> Text,
        grp -> Integer,
        lo -> BigInt,
        hi -> BigInt,
    }
}

diesel::table! {
    idx_number (resource_type, resource_id, param, grp, lo) {
        resource_type -> Text,
        resource_id -> Text,
        param -> Text,
        grp -> Integer,
        value -> Double,
        lo -> Double,
        hi -> Double,
        value_key -> Nullable<Text>,
    }
}

diesel::table! {
    idx_quantity (resource_type, resource_id, param, grp, lo) {
        resource_type -> Text,
        resource_id -> Text,
        param -> Text,
        grp -> Integer,
        value -> Double,
        lo -> Double,
        hi -> Double,
        system -> Nullable<Text>,
        code -> Nullable<Text>,
        unit -> Nullable<Text>,
        canonical_code -> Nullable<Text>,
        canonical_lo -> Nullable<Double>,
        canonical_hi -> Nullable<Double>,
        value_key -> Nullable<Text>,
    }
}

diesel::table! {
    idx_uri (resource_type, resource_id, param, grp, uri) {
        resource_type -> Text,
        resource_id -> Text,
        param -> Text,
        grp -> Integer,
        uri -> Text,
    }
}
