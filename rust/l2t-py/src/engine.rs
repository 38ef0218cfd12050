//! `l2t._l2t.Engine`: examples and packed rows for a list of documents.

use l2t_core::{Document, EngineConfig, Profile, StreamPosition, Task};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::buffer::{Buffer, Data};
use crate::errors::{detach, to_py, ConfigError, InputError};

/// Parses a profile name.
pub fn parse_profile(name: &str) -> PyResult<Profile> {
    match name {
        "paper" => Ok(Profile::Paper),
        "default" => Ok(Profile::Default),
        other => Err(ConfigError::new_err(format!(
            "unknown profile {other:?}; choose \"paper\" or \"default\""
        ))),
    }
}

/// Copies the documents out of any Python iterable, naming the first bad one. A document is a
/// `str`, or a sequence of token ids (a list, a numpy array, ...) that the tokenizer decodes.
fn extract_texts(
    texts: &Bound<'_, PyAny>,
    first_doc: u64,
    tokenizer: &l2t_core::Tokenizer,
) -> PyResult<Vec<String>> {
    let mut out = Vec::new();
    for (i, item) in texts.try_iter()?.enumerate() {
        let item = item?;
        let doc = first_doc + i as u64;
        if let Ok(s) = item.cast::<PyString>() {
            match s.to_str() {
                Ok(t) => out.push(t.to_owned()),
                Err(e) => {
                    return Err(InputError::new_err(format!(
                        "document {doc} is not valid Unicode (lone surrogate?): {e}"
                    )))
                }
            }
        } else if let (false, Ok(ids)) =
            (item.is_instance_of::<PyBytes>(), item.extract::<Vec<u32>>())
        {
            let text = tokenizer.decode(&ids).map_err(|e| match e {
                l2t_core::L2tError::Vocab { id, vocab_size, .. } => {
                    to_py(&l2t_core::L2tError::Vocab {
                        id,
                        vocab_size,
                        doc: Some(doc as usize),
                    })
                }
                other => to_py(&other),
            })?;
            out.push(text);
        } else {
            return Err(InputError::new_err(format!(
                "document {doc} is a {}, not a str or a sequence of token ids",
                item.get_type().name()?
            )));
        }
    }
    Ok(out)
}

/// The documents of one call, copied out of Python, and where they stand in the stream.
struct DocumentBatch {
    texts: Vec<String>,
    token_counts: Option<Vec<Option<usize>>>,
    position: StreamPosition,
}

impl DocumentBatch {
    /// Reads the texts (or decodes token ids) and checks that the token counts, when given,
    /// are one per document.
    fn read(
        engine: &l2t_core::Engine,
        texts: &Bound<'_, PyAny>,
        token_counts: Option<Vec<Option<usize>>>,
        first_doc: u64,
        previous: Option<Vec<String>>,
        batch: u64,
    ) -> PyResult<Self> {
        let texts = extract_texts(texts, first_doc, engine.tokenizer())?;
        if let Some(counts) = &token_counts {
            if counts.len() != texts.len() {
                return Err(ConfigError::new_err(format!(
                    "token_counts has {} entries for {} documents",
                    counts.len(),
                    texts.len()
                )));
            }
        }
        Ok(Self {
            texts,
            token_counts,
            position: StreamPosition {
                first_doc,
                previous,
                batch,
            },
        })
    }

    /// The documents, borrowing the texts.
    fn documents(&self) -> Vec<Document<'_>> {
        self.texts
            .iter()
            .enumerate()
            .map(|(i, text)| Document {
                text,
                token_count: self.token_counts.as_ref().and_then(|c| c[i]),
            })
            .collect()
    }
}

/// One example's metadata: (doc, task id, prompt, completion, text, prompt ids).
type ExampleMeta = (u64, u8, String, String, String, u32);

/// Examples as metadata, all their ids concatenated, and each example's offsets into those ids.
fn example_parts(examples: Vec<l2t_core::Example>) -> (Vec<ExampleMeta>, Buffer, Buffer) {
    let mut ids = Vec::with_capacity(examples.iter().map(|e| e.ids.len()).sum());
    let mut offsets = Vec::with_capacity(examples.len() + 1);
    offsets.push(0u64);
    let meta = examples
        .into_iter()
        .map(|e| {
            ids.extend_from_slice(&e.ids);
            offsets.push(ids.len() as u64);
            (
                e.doc,
                e.task.id(),
                e.prompt,
                e.completion,
                e.text,
                e.prompt_len,
            )
        })
        .collect();
    (
        meta,
        Buffer::new(Data::U32(ids)),
        Buffer::new(Data::U64(offsets)),
    )
}

#[pyclass(frozen, module = "l2t._l2t")]
pub struct Engine {
    inner: l2t_core::Engine,
}

#[pymethods]
impl Engine {
    /// Builds an engine from a tokenizer JSON, a profile name and a JSON object of overrides.
    #[new]
    fn new(
        py: Python<'_>,
        tokenizer_json: String,
        profile: &str,
        overrides_json: String,
    ) -> PyResult<Self> {
        let profile = parse_profile(profile)?;
        let inner = detach(py, move || {
            let config = EngineConfig::with_overrides(profile, &overrides_json)?;
            let tokenizer = l2t_core::Tokenizer::from_json(&tokenizer_json)?;
            l2t_core::Engine::new(tokenizer, config)
        })?;
        Ok(Self { inner })
    }

    /// The resolved configuration, as JSON.
    fn config_json(&self) -> PyResult<String> {
        crate::serde_json_string(self.inner.config())
    }

    #[getter]
    fn pad_id(&self) -> u32 {
        self.inner.pad_id()
    }

    #[getter]
    fn eos_id(&self) -> Option<u32> {
        self.inner.tokenizer().eos_id()
    }

    /// Examples: (metadata list, concatenated ids, ids offsets, stats JSON).
    #[pyo3(signature = (texts, task=None, token_counts=None, first_doc=0, previous=None))]
    fn examples(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        task: Option<&str>,
        token_counts: Option<Vec<Option<usize>>>,
        first_doc: u64,
        previous: Option<Vec<String>>,
    ) -> PyResult<(Vec<ExampleMeta>, Buffer, Buffer, String)> {
        let forced = task
            .map(Task::from_name)
            .transpose()
            .map_err(|e| crate::errors::to_py(&e))?;
        let input = DocumentBatch::read(&self.inner, texts, token_counts, first_doc, previous, 0)?;
        let docs = input.documents();
        let (examples, stats) = detach(py, || self.inner.examples(&docs, forced, &input.position))?;
        let (meta, ids, offsets) = example_parts(examples);
        Ok((meta, ids, offsets, crate::serde_json_string(&stats)?))
    }

    /// The examples of the documents `generate` uses as L2T and the global indices of those it
    /// uses as raw text: (metadata list, concatenated ids, ids offsets, raw indices, stats JSON).
    #[pyo3(signature = (texts, token_counts=None, first_doc=0, previous=None))]
    #[allow(clippy::type_complexity)]
    fn mixed_examples(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        token_counts: Option<Vec<Option<usize>>>,
        first_doc: u64,
        previous: Option<Vec<String>>,
    ) -> PyResult<(Vec<ExampleMeta>, Buffer, Buffer, Vec<u64>, String)> {
        let input = DocumentBatch::read(&self.inner, texts, token_counts, first_doc, previous, 0)?;
        let docs = input.documents();
        let (examples, raw, stats) =
            detach(py, || self.inner.mixed_examples(&docs, &input.position))?;
        let (meta, ids, offsets) = example_parts(examples);
        Ok((meta, ids, offsets, raw, crate::serde_json_string(&stats)?))
    }

    /// Packed rows: (input_ids, row_offsets, segment_lengths, segment_tasks, segment_docs,
    /// segment_prompt_lengths, stats JSON).
    #[pyo3(signature = (texts, token_counts=None, first_doc=0, previous=None, batch=0))]
    #[allow(clippy::type_complexity)]
    fn generate(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        token_counts: Option<Vec<Option<usize>>>,
        first_doc: u64,
        previous: Option<Vec<String>>,
        batch: u64,
    ) -> PyResult<(Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, String)> {
        let input =
            DocumentBatch::read(&self.inner, texts, token_counts, first_doc, previous, batch)?;
        let docs = input.documents();
        let (packed, stats) = detach(py, || self.inner.generate(&docs, &input.position))?;
        Ok((
            Buffer::new(Data::U32(packed.input_ids)),
            Buffer::new(Data::U64(packed.row_offsets)),
            Buffer::new(Data::U32(packed.segment_lengths)),
            Buffer::new(Data::U8(packed.segment_tasks)),
            Buffer::new(Data::U64(packed.segment_docs)),
            Buffer::new(Data::U32(packed.segment_prompt_lengths)),
            crate::serde_json_string(&stats)?,
        ))
    }
}
