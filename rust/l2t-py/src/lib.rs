//! Thin pyo3 bindings: the private module `l2t._l2t`. The public API lives in `python/l2t/`.
//!
//! Every bound method does three things: extract the Python arguments into owned Rust values,
//! run the core with the GIL released (through [`errors::detach`]), and convert the result. No
//! engine logic lives here. Bulk outputs are returned as [`buffer::Buffer`] objects that numpy and
//! pyarrow wrap without copying.

// pyo3 extracts arguments into owned values so the GIL can be released over them.
#![allow(clippy::needless_pass_by_value)]

mod buffer;
mod engine;
mod errors;
mod tokenizer;

use pyo3::prelude::*;

/// Splits a document into sentences as the L2T reference does.
#[pyfunction]
fn split_sentences(py: Python<'_>, text: &str) -> Vec<String> {
    let text = text.to_owned();
    py.detach(move || l2t_core::text::sentences::split_sentences(&text))
}

/// Python-compatible character classes of the code points in `start..end`, one byte each:
/// bit 0 isspace, 1 isalnum, 2 isalpha, 3 isdigit, 4 isupper, 5 ASCII punctuation; surrogates 0.
/// Lets the test suite compare the core's tables with the running Python, code point by code point.
#[pyfunction]
fn char_classes(start: u32, end: u32) -> Vec<u8> {
    use l2t_core::text::pychars;
    (start..end)
        .map(|cp| {
            char::from_u32(cp).map_or(0, |c| {
                u8::from(pychars::is_space(c))
                    | u8::from(pychars::is_alnum(c)) << 1
                    | u8::from(pychars::is_alpha(c)) << 2
                    | u8::from(pychars::is_digit(c)) << 3
                    | u8::from(pychars::is_upper(c)) << 4
                    | u8::from(pychars::is_ascii_punctuation(c)) << 5
            })
        })
        .collect()
}

/// Python's `s.lower()`, `s.capitalize()` and `s.split()` as the core computes them.
#[pyfunction]
fn py_string_ops(s: &str) -> (String, String, Vec<String>) {
    use l2t_core::text::pychars;
    (
        pychars::lower(s),
        pychars::capitalize(s),
        pychars::split_whitespace(s).map(str::to_owned).collect(),
    )
}

/// The 14 tasks as (id, name, reference name, granularity, description).
#[pyfunction]
fn tasks() -> Vec<(u8, &'static str, &'static str, &'static str, &'static str)> {
    l2t_core::Task::ALL
        .iter()
        .map(|t| {
            (
                t.id(),
                t.name(),
                t.reference_name(),
                t.granularity().name(),
                t.description(),
            )
        })
        .collect()
}

/// Panics inside the core's boundary with `message`: lets the test suite check that a panic
/// reaches Python as `l2t.L2TError`, not as pyo3's `PanicException`.
#[pyfunction]
fn panic_inside_core(py: Python<'_>, message: String) -> PyResult<()> {
    errors::detach(py, move || -> l2t_core::Result<()> { panic!("{message}") })
}

/// The preset configuration of a profile, as JSON.
#[pyfunction]
fn profile_config(profile: &str) -> PyResult<String> {
    let profile = engine::parse_profile(profile)?;
    let config = l2t_core::EngineConfig::preset(profile);
    serde_json_string(&config)
}

fn serde_json_string<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| errors::L2TError::new_err(e.to_string()))
}

#[pymodule(gil_used = false)]
fn _l2t(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", l2t_core::VERSION)?;
    m.add("RAW_TASK_ID", l2t_core::tasks::RAW_TASK_ID)?;
    m.add_function(wrap_pyfunction!(split_sentences, m)?)?;
    m.add_function(wrap_pyfunction!(tasks, m)?)?;
    m.add_function(wrap_pyfunction!(char_classes, m)?)?;
    m.add_function(wrap_pyfunction!(py_string_ops, m)?)?;
    m.add_function(wrap_pyfunction!(profile_config, m)?)?;
    m.add_function(wrap_pyfunction!(panic_inside_core, m)?)?;
    m.add_class::<buffer::Buffer>()?;
    m.add_class::<tokenizer::Tokenizer>()?;
    m.add_class::<engine::Engine>()?;
    errors::register(m)?;
    Ok(())
}
