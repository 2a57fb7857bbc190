terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

provider "aws" {
  region = "ca-central-1"
  default_tags {
    tags = { job_id = "fixture" }
  }
}

