terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { job_id = "fixture" }
  }
}

variable "region" {
  default = "ap-southeast-2"
}
