//! The checks of a plan that need the file system: the context, the Dockerfile and
//! secret files exist. Kept apart so that parsing stays free of I/O.

use super::build_plan::{BuildContext, BuildPlan, SecretSource};
use super::error::PlanError;
use crate::action::names as n;

pub fn preflight(plan: &BuildPlan) -> Result<(), PlanError> {
    if let BuildContext::Local(dir) = &plan.context {
        if !dir.is_dir() {
            return Err(PlanError::new(
                n::CONTEXT,
                format!("{} is not a directory", dir.display()),
            ));
        }
        if !plan.dockerfile.is_file() {
            return Err(PlanError::new(
                n::FILE,
                format!(
                    "{} not found (set file: to the Dockerfile's path, or check out the repository first)",
                    plan.dockerfile.display()
                ),
            ));
        }
    }
    for secret in &plan.secrets {
        if let SecretSource::File(path) = &secret.source
            && !path.is_file()
        {
            return Err(PlanError::new(
                n::SECRET_FILES,
                format!("secret {:?}: {} not found", secret.id, path.display()),
            ));
        }
    }
    Ok(())
}
