terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }
}

provider "aws" {
  region = "ca-central-1"
  default_tags {
    tags = { job_id = "fixture" }
  }
}

variable "db_password" {
  type      = string
  sensitive = true
}

output "debug" {
  value = nonsensitive(var.db_password)
}
