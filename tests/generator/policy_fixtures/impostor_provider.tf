# The right local name from someone else's namespace: init would run their code.
terraform {
  required_providers {
    aws = {
      source  = "evil-corp/aws"
      version = "5.60.0"
    }
  }
}

provider "aws" {
  region = "ca-central-1"
  default_tags {
    tags = { job_id = "fixture" }
  }
}

