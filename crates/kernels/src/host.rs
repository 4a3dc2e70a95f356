//! Reading and making tensors of the CPU backend as plain host buffers, for the fused kernels
//! ([`crate::attention`], [`crate::loss`], [`crate::swiglu`]), and recognising that backend inside
//! generic code.
//!
//! Reads borrow the tensor's own buffer and writes hand a `Vec` over without copying: going
//! through `TensorData` instead copied a buffer two or three times each way (a shared buffer is
//! cloned, then re-aligned, then converted), all on the thread that drives the step.

use std::any::Any;
use std::borrow::Cow;

use burn::tensor::backend::Backend;
use burn::tensor::{Bytes, DType, Shape, Tensor};
use burn_flex::Layout;

use crate::Cpu;

/// The CPU backend's float tensor primitive.
pub(crate) type FlexTensor = <Cpu as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive;

/// `T` as `U` when they are the same type (checked at run time, no `unsafe`), else `T` back.
pub(crate) fn same_type<T: 'static, U: 'static>(x: T) -> Result<U, T> {
    let boxed: Box<dyn Any> = Box::new(x);
    match boxed.downcast::<U>() {
        Ok(u) => Ok(*u),
        Err(boxed) => Err(*boxed.downcast::<T>().expect("a box holds the type it was made from")),
    }
}

/// A fused operation's result, a tensor of a CPU backend, as `B`'s: the caller matched its
/// inputs with [`same_type`], so `B` is that backend.
pub(crate) fn as_backend<T: 'static, B: Backend, const D: usize>(x: T) -> Tensor<B, D> {
    match same_type::<_, Tensor<B, D>>(x) {
        Ok(x) => x,
        Err(_) => unreachable!("the inputs were this backend's, so B is it"),
    }
}

/// The contents of a CPU float tensor in row-major order: its own buffer when contiguous (the
/// usual case), else a contiguous copy. The CPU backend's float tensors are f32 throughout this
/// model, so anything else is a bug here, not an input error.
pub(crate) fn host(x: &FlexTensor) -> Cow<'_, [f32]> {
    assert_eq!(x.dtype(), DType::F32, "the CPU backend computes in f32");
    match x.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(x.to_contiguous().as_slice::<f32>().expect("contiguous after to_contiguous").to_vec()),
    }
}

/// The contents of a CPU float tensor as an owned buffer (one copy at most).
pub(crate) fn to_host(x: FlexTensor) -> Vec<f32> {
    host(&x).into_owned()
}

/// A CPU float tensor of `shape` holding `values` (no copy).
pub(crate) fn from_host(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    let shape = shape.into();
    assert_eq!(values.len(), shape.num_elements(), "one value per element");
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape), DType::F32)
}
