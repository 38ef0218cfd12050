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
pub fn detach<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> l2t_core::Result<T> + Send,
) -> PyResult<T> {
    py.detach(f).map_err(|e| to_py(&e))
}
