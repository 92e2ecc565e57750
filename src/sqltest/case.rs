//! What to test: each SmartConnector's Live SQL with its cases, built from the manifests
//! (for one tenant when given: its selector and its `${vars}`).

use crate::config::Tenant;
use crate::manifest::{Diagnostics, Manifest, ManifestSet, Spec, TestFile};
use crate::model::{Kind, Location};

/// One file loaded as a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFile {
    /// The table name.
    pub table: String,
    /// The file, repository-relative.
    pub path: String,
    /// Where the manifest names it.
    pub at: Location,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl TableFile {
    fn from_test(table: &str, file: &TestFile) -> TableFile {
        TableFile {
            table: table.to_owned(),
            path: file.path.clone(),
            at: file.at.clone(),
            bytes: file.bytes.clone(),
        }
    }

    /// The engine's input format for the file's extension.
    pub(crate) fn format(&self) -> &'static str {
        if self.path.to_ascii_lowercase().ends_with(".tsv") {
            "TSVWithNames"
        } else {
            "CSVWithNames"
        }
    }
}

/// One test case of a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The case's name (variables substituted for a tenant).
    pub name: String,
    /// Where it is written (the manifest for the implicit case).
    pub location: Location,
    /// Input tables.
    pub inputs: Vec<TableFile>,
    /// Expected output tables.
    pub expect: Vec<TableFile>,
    /// Columns identifying a row of the expected tables.
    pub key: Vec<String>,
    /// Stand-ins: the call as written (or a function name) and the file that replaces it.
    pub stand_ins: Vec<(String, TableFile)>,
}

/// One SmartConnector to test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `metadata.name`.
    pub connector: String,
    /// The tenant whose values were used, if any.
    pub tenant: Option<String>,
    /// Where the manifest starts.
    pub location: Location,
    /// The Live SQL file (repository-relative) and its text.
    pub sql: Option<(String, String)>,
    /// The name of the table the last statement's rows become.
    pub output_table: String,
    /// `spec.chdbVersion`.
    pub chdb_version: Option<String>,
    /// The cases to run (one implicit case without `spec.tests`).
    pub cases: Vec<Case>,
    /// Why the connector cannot be tested, if so.
    pub skip: Option<String>,
}

/// The SmartConnectors of `set` to test: all of them, or with `tenant` the ones it selects,
/// with its `${vars}` in the case names.
///
/// # Errors
/// Undefined variables of the tenant, as `ferry validate` reports them.
pub fn subjects(set: &ManifestSet, tenant: Option<&Tenant>) -> Result<Vec<Subject>, Diagnostics> {
    let Some(tenant) = tenant else {
        return Ok(set
            .iter()
            .filter(|m| m.kind == Kind::SmartConnector)
            .map(|m| subject(m, None))
            .collect());
    };
    let desired = crate::desired::desired_for(set, tenant)?;
    Ok(desired
        .iter()
        .filter(|d| d.kind == Kind::SmartConnector)
        .filter_map(|d| set.get(&d.connector))
        .map(|m| subject(m, Some(tenant)))
        .collect())
}

/// The SmartConnector `connector` of `set` to test with `tenant`'s `${vars}` (None when
/// `set` has no SmartConnector of that name). Unlike [`subjects`], it does not check that
/// the tenant selects it: for callers that took the name from the tenant's plan.
pub fn subject_for(set: &ManifestSet, connector: &str, tenant: &Tenant) -> Option<Subject> {
    set.get(connector)
        .filter(|m| m.kind == Kind::SmartConnector)
        .map(|m| subject(m, Some(tenant)))
}

fn subject(m: &Manifest, tenant: Option<&Tenant>) -> Subject {
    let Spec::SmartConnector(spec) = &m.spec else {
        unreachable!("only SmartConnectors are selected");
    };
    let contents = &m.contents;
    let sql = contents
        .live_sql_path
        .clone()
        .zip(contents.live_sql.clone());
    let names = match tenant {
        Some(t) => crate::desired::test_names(m, t),
        None => spec.tests.iter().map(|c| c.name.clone()).collect(),
    };
    let defaults: Vec<TableFile> = [
        (
            &spec.tables.input,
            &contents.sample_file_path,
            &contents.sample_file,
        ),
        (
            &spec.tables.reference_data,
            &contents.reference_data_path,
            &contents.reference_data,
        ),
    ]
    .into_iter()
    .filter_map(|(table, path, text)| {
        Some(TableFile {
            table: table.clone(),
            path: path.clone()?,
            at: m.location.clone(),
            bytes: text.clone()?.into_bytes(),
        })
    })
    .collect();
    let mut skip = None;
    let cases: Vec<Case> = if spec.tests.is_empty() {
        if sql.is_some() && contents.sample_file.is_none() {
            skip = Some(
                "no spec.tests and no sample file to run the SQL on: add a test case (spec.tests) or a sample file".to_owned(),
            );
        }
        vec![Case {
            name: "runs on the sample file".to_owned(),
            location: m.location.clone(),
            inputs: defaults,
            expect: Vec::new(),
            key: Vec::new(),
            stand_ins: Vec::new(),
        }]
    } else {
        spec.tests
            .iter()
            .zip(&contents.tests)
            .zip(names)
            .map(|((case, files), name)| {
                let mut inputs: Vec<TableFile> = defaults
                    .iter()
                    .filter(|d| !files.inputs.contains_key(&d.table))
                    .cloned()
                    .collect();
                inputs.extend(
                    files
                        .inputs
                        .iter()
                        .map(|(table, f)| TableFile::from_test(table, f)),
                );
                Case {
                    name,
                    location: files.at.clone(),
                    inputs,
                    expect: files
                        .expect
                        .iter()
                        .map(|(table, f)| TableFile::from_test(table, f))
                        .collect(),
                    key: case.key.clone(),
                    stand_ins: files
                        .stand_ins
                        .iter()
                        .map(|(call, f)| (call.clone(), TableFile::from_test("", f)))
                        .collect(),
                }
            })
            .collect()
    };
    if sql.is_none() {
        skip = Some(match &spec.duplicate_of {
            Some(of) => format!(
                "no Live SQL in git: the connector is created by duplicating `{of}` in the tenant"
            ),
            None => "no Live SQL".to_owned(),
        });
    }
    Subject {
        connector: m.metadata.name.clone(),
        tenant: tenant.map(|t| t.name.clone()),
        location: m.location.clone(),
        sql,
        output_table: spec.tables.output.clone(),
        chdb_version: spec.chdb_version.clone(),
        cases,
        skip,
    }
}
