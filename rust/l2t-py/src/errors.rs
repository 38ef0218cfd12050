//! The exception hierarchy and the one place core errors become Python exceptions.

use l2t_core::L2tError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    l2t,
    L2TError,
    PyException,
    "Base class of every error l2t raises."
);
create_exception!(
    l2t,
    ConfigError,
    L2TError,
    "An invalid option or combination of options."
);
create_exception!(
    l2t,
    TokenizerError,
    L2TError,
    "A tokenizer that cannot be loaded or used."
);
create_exception!(
    l2t,
    InputError,
    L2TError,
    "An unusable document or record; names where it is."
);
create_exception!(
    l2t,
    SourceError,
    InputError,
    "An input file or source that cannot be read: names the file and row."
);
create_exception!(
    l2t,
    OutputError,
    L2TError,
    "An output directory that cannot be written, or that holds other data."
);
create_exception!(
    l2t,
    VocabError,
    InputError,
    "A token id outside the tokenizer's vocabulary."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("L2TError", py.get_type::<L2TError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("TokenizerError", py.get_type::<TokenizerError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("VocabError", py.get_type::<VocabError>())?;
    m.add("SourceError", py.get_type::<SourceError>())?;
    m.add("OutputError", py.get_type::<OutputError>())?;
    Ok(())
}

/// Maps a core error to its Python exception.
pub fn to_py(err: &L2tError) -> PyErr {
    let message = err.to_string();
    match err {
        L2tError::Config(_) => ConfigError::new_err(message),
        L2tError::Tokenizer(_) => TokenizerError::new_err(message),
        L2tError::Vocab { .. } => VocabError::new_err(message),
        L2tError::Input { .. } => InputError::new_err(message),
    }
}

/// Runs `f` with the GIL released and maps its error: the one way bound methods call the core.
///
/// A panic in the core (a bug: the core never panics on user input by design) is caught here and
/// becomes `l2t.L2TError("internal error: ...")`. Left alone it would reach Python as pyo3's
/// `PanicException`, a `BaseException` that `except l2t.L2TError` (the CLI's handler) misses.
pub fn detach<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> l2t_core::Result<T> + Send,
) -> PyResult<T> {
    match py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))) {
        Ok(result) => result.map_err(|e| to_py(&e)),
        Err(payload) => Err(internal_error(payload.as_ref())),
    }
}

/// The Python error for a caught panic, with the panic's message.
fn internal_error(payload: &(dyn std::any::Any + Send)) -> PyErr {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned());
    L2TError::new_err(format!(
        "internal error: {message} (a bug in l2t; please report it with the input that caused it)"
    ))
}
