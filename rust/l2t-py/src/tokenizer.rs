//! `l2t._l2t.Tokenizer`: the core's exact, cached encoder, exposed for checks and previews.

use pyo3::prelude::*;

use crate::errors::detach;

#[pyclass(frozen, module = "l2t._l2t")]
pub struct Tokenizer {
    inner: l2t_core::Tokenizer,
}

#[pymethods]
impl Tokenizer {
    /// Loads a tokenizer from the JSON text of a HF `tokenizer.json`.
    #[new]
    fn new(py: Python<'_>, json: String) -> PyResult<Self> {
        let inner = detach(py, move || l2t_core::Tokenizer::from_json(&json))?;
        Ok(Self { inner })
    }

    #[getter]
    fn fast_path(&self) -> &'static str {
        self.inner.fast_path()
    }

    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    /// The tokenizer file's settings that l2t turns off ("padding", "truncation").
    #[getter]
    fn disabled(&self) -> Vec<&'static str> {
        self.inner.disabled().to_vec()
    }

    #[getter]
    fn bos_id(&self) -> Option<u32> {
        self.inner.bos_id()
    }

    #[getter]
    fn eos_id(&self) -> Option<u32> {
        self.inner.eos_id()
    }

    /// Exact ids of `text` (special tokens included), through the fast path.
    fn encode(&self, py: Python<'_>, text: String) -> PyResult<Vec<u32>> {
        detach(py, || self.inner.encoder().encode(&text))
    }

    /// Ids of `text` through the plain HF pipeline (the reference the fast path must equal).
    fn encode_reference(&self, py: Python<'_>, text: String) -> PyResult<Vec<u32>> {
        detach(py, || self.inner.encode_reference(&text))
    }

    /// Text of `ids`, special tokens skipped.
    fn decode(&self, py: Python<'_>, ids: Vec<u32>) -> PyResult<String> {
        detach(py, || self.inner.decode(&ids))
    }
}
