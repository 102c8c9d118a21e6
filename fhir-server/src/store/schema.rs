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
