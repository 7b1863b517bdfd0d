//! TEMPORARY compile scaffolding of the lead (replaced by H1's engine before any commit).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid { pub dims: [usize; 3], pub affine: [[f64; 4]; 3] }
pub struct Volume { pub grid: Grid, pub data: Vec<f32> }
#[derive(Clone, Copy, Debug)]
pub enum Modality { Mr, Ct }
#[derive(Clone, Debug)]
pub struct Fit;
#[derive(Debug, Clone, PartialEq)]
pub struct DefaceError;
impl std::fmt::Display for DefaceError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "x") } }
pub fn fit(_v: &Volume, _m: Modality) -> Result<Fit, DefaceError> { Ok(Fit) }
impl Fit {
    pub fn face(&self, ras: [f64; 3]) -> bool { ras[1] > 60.0 }
    pub fn mask(&self, grid: &Grid) -> Vec<bool> { let n = grid.dims.iter().product(); vec![false; n] }
}
#[derive(Debug, Clone, PartialEq)]
pub struct Picture { pub width: u32, pub height: u32, pub rgba: Vec<u8> }
pub struct Previews { pub sagittal: Picture, pub axial: Picture, pub voxels: usize }
pub fn previews(_v: &Volume, _m: &[bool]) -> Previews { let p = Picture { width: 0, height: 0, rgba: vec![] }; Previews { sagittal: p.clone(), axial: p, voxels: 0 } }
pub fn template_head() -> Volume { Volume { grid: Grid { dims: [2, 2, 2], affine: [[2.0, 0.0, 0.0, -90.0], [0.0, 2.0, 0.0, -126.0], [0.0, 0.0, 2.0, -72.0]] }, data: vec![0.0; 8] } }
