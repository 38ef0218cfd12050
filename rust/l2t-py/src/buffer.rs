//! A read-only typed buffer that numpy and pyarrow wrap without copying.
//!
//! The object owns a `Vec` and exposes numpy's `__array_interface__` (version 3): `np.asarray`
//! then views the memory and keeps this object alive as the array's base. This works under the
//! abi3 limited API of Python 3.10, where the buffer protocol is not available (it entered the
//! limited API in 3.11).

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The element types the engine returns.
pub enum Data {
    U8(Vec<u8>),
    U32(Vec<u32>),
    U64(Vec<u64>),
}

#[pyclass(frozen, module = "l2t._l2t")]
pub struct Buffer {
    data: Data,
}

impl Buffer {
    pub fn new(data: Data) -> Self {
        Self { data }
    }
}

#[pymethods]
impl Buffer {
    fn __len__(&self) -> usize {
        match &self.data {
            Data::U8(v) => v.len(),
            Data::U32(v) => v.len(),
            Data::U64(v) => v.len(),
        }
    }

    /// numpy's array interface: shape, little-endian type string, and a read-only data pointer.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (ptr, typestr) = match &self.data {
            Data::U8(v) => (v.as_ptr() as usize, "|u1"),
            Data::U32(v) => (v.as_ptr() as usize, "<u4"),
            Data::U64(v) => (v.as_ptr() as usize, "<u8"),
        };
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", (self.__len__(),))?;
        d.set_item("typestr", typestr)?;
        d.set_item("data", (ptr, true))?;
        Ok(d)
    }
}
