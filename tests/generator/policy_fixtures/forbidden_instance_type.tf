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

resource "aws_instance" "big" {
  ami           = "ami-123"
  instance_type = "p4d.24xlarge"
  metadata_options {
    http_tokens = "required"
  }
}
